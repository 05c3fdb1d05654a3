"""PettingZoo adapter: a parallel-API multi-agent env whose agents are the bodies.

Each PettingZoo agent is one body, in the fixed order of `possible_agents`, so arrays carry
a leading body axis exactly as for a Gymnasium vector env (`slm_lab.env.gymnasium.GymEnv`,
whose interface this class repeats). Two ways to learn with it (Terry et al. 2021,
"PettingZoo: Gym for Multi-Agent Reinforcement Learning"):

- **parameter sharing**: one lab agent owns all N bodies — needs every agent to have the
  same spaces; `spaces` is then that agent's BodySpaces with `num_bodies = N`;
- **independent learners**: several lab agents each own a slice of the bodies;
  `agent_ids`, `agent_spaces` and `body_spaces(bodies)` give what each learner needs.

Agents whose observations differ in size (e.g. MPE's adversary and good agents) are padded
with zeros to the largest size so the bodies stack into one [N, obs] array; a learner for a
group of bodies reads the first `body_spaces(group).obs_dim` columns. Continuous actions
are given as [N, max act_dim]; extra columns are ignored.

Centralized critics (MAPPO, Yu et al. 2022, "The Surprising Effectiveness of PPO in
Cooperative Multi-Agent Games"): `critic_inputs` gives each body what a critic that sees
more than its own observation takes: the joint observation (every agent's, in
`agent_ids` order, unpadded) or the env's global state (PettingZoo `state()`, when the env
has a `state_space`), optionally followed by the body's one-hot index. Policies still act
on their own rows.

Episodes end for all agents together (MPE truncates everyone at `max_cycles`). The adapter
then resets at once, like Gymnasium's SAME_STEP autoreset: the step hands back the true
final observations as `next_state` and the next episode's first ones as `state`.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np

from slm_lab.env.clock import Clock
from slm_lab.lib.seeding import derive_seed
from slm_lab.env.protocol import BodySpaces, Episode, EpisodeTracker, StepResult
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

logger = get_logger(__name__)

PREFIX = "pettingzoo:"


def module_path(env_name: str) -> str:
    """`pettingzoo:mpe2.simple_spread_v3` -> `mpe2.simple_spread_v3` (checked for shape only)."""
    if not env_name.startswith(PREFIX):
        raise SpecError(f"env {env_name!r} is not a PettingZoo env name (pettingzoo:<module>)")
    path = env_name[len(PREFIX):]
    if not path or not all(part.isidentifier() for part in path.split(".")):
        raise SpecError(f"env {env_name!r}: {path!r} is not a module path like mpe2.simple_spread_v3")
    return path


def import_module(env_name: str) -> Any:
    """The module a `pettingzoo:<module>` name points at, or a SpecError naming the failure."""
    path = module_path(env_name)
    try:
        return importlib.import_module(path)
    except ImportError as e:
        raise SpecError(f"env {env_name!r}: cannot import {path}: {e}") from None


def _space_of(env_name: str, agent: str, obs_space: Any, act_space: Any) -> BodySpaces:
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise SpecError(f"env {env_name!r}: agent {agent}'s observation space {obs_space} is not a flat Box")
    obs_dim = int(obs_space.shape[0])
    if isinstance(act_space, gym.spaces.Discrete):
        return BodySpaces(obs_dim, int(act_space.n), True, 1)
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return BodySpaces(obs_dim, int(act_space.shape[0]), False, 1,
                          act_space.low.astype(np.float32), act_space.high.astype(np.float32))
    raise SpecError(f"env {env_name!r}: agent {agent}'s action space {act_space} is not Discrete or a flat Box")


def _same(a: BodySpaces, b: BodySpaces) -> bool:
    if (a.obs_dim, a.action_dim, a.is_discrete) != (b.obs_dim, b.action_dim, b.is_discrete):
        return False
    if a.is_discrete:
        return True
    return bool(np.array_equal(a.action_low, b.action_low) and np.array_equal(a.action_high, b.action_high))


def _describe(s: BodySpaces) -> str:
    kind = f"{s.action_dim} discrete actions" if s.is_discrete else f"continuous actions of size {s.action_dim}"
    return f"obs {s.obs_dim}, {kind}"


class PettingZooEnv:
    """A PettingZoo parallel env; body i is `agent_ids[i]`."""

    def __init__(
        self, spec: EnvSpec, seed: int = 0, num_envs: int | None = None, evaluation: bool = False, train_env: Any = None
    ) -> None:
        """`num_envs`, `evaluation` and `train_env` are accepted for GymEnv's signature and
        ignored: the bodies are the env's agents and nothing is processed for training only."""
        self.spec = spec
        self.seed = seed
        path = module_path(spec.name)
        if num_envs not in (None, 1):
            logger.debug("%s: bodies are the env's agents; num_envs=%s is ignored", spec.name, num_envs)
        module = import_module(spec.name)
        factory = getattr(module, "parallel_env", None)
        if not callable(factory):
            raise SpecError(f"env {spec.name!r}: module {path} has neither parallel_env() (PettingZoo parallel API) "
                            "nor env() (AEC API)")
        try:
            self.penv = factory(**spec.kwargs)
        except TypeError as e:
            raise SpecError(f"env {spec.name!r}: bad kwargs {spec.kwargs}: {e}") from None
        self.agent_ids: list[str] = list(self.penv.possible_agents)
        self.num_bodies = len(self.agent_ids)
        self.agent_spaces = {
            a: _space_of(spec.name, a, self.penv.observation_space(a), self.penv.action_space(a)) for a in self.agent_ids
        }
        kinds = {s.is_discrete for s in self.agent_spaces.values()}
        if len(kinds) > 1:
            raise SpecError(f"env {spec.name!r}: agents mix discrete and continuous actions, which the lab does not support")
        self.is_discrete = kinds.pop()
        self.obs_width = max(s.obs_dim for s in self.agent_spaces.values())
        self.act_width = max(s.action_dim for s in self.agent_spaces.values())
        self._obs_dims = [self.agent_spaces[a].obs_dim for a in self.agent_ids]
        if not self.is_discrete:
            self._low = np.zeros((self.num_bodies, self.act_width), dtype=np.float32)
            self._high = np.zeros((self.num_bodies, self.act_width), dtype=np.float32)
            for i, a in enumerate(self.agent_ids):
                s = self.agent_spaces[a]
                self._low[i, : s.action_dim], self._high[i, : s.action_dim] = s.action_low, s.action_high
        self.clock = Clock(spec.max_frame)
        self.max_t = spec.max_t
        self.obs_dtype = np.float32
        self.episodes = EpisodeTracker(self.num_bodies)  # all bodies share one episode clock here
        self._seeded = False
        # which padded columns are real observations: row-major, they flatten to the joint observation
        self._real_cols = np.arange(self.obs_width)[None, :] < np.array(self._obs_dims)[:, None]
        self._tracks_state = False  # global states are computed only for a critic that asks for them
        self._global_state: np.ndarray | None = None

    # --- spaces ---------------------------------------------------------------------------

    def body_spaces(self, bodies: list[int] | None = None) -> BodySpaces:
        """The spaces of a group of bodies (all when None), which must all be the same."""
        bodies = list(range(self.num_bodies)) if bodies is None else list(bodies)
        if not bodies:
            raise SpecError(f"env {self.spec.name!r}: an empty group of bodies has no spaces")
        first = self.agent_spaces[self.agent_ids[bodies[0]]]
        for b in bodies[1:]:
            other = self.agent_spaces[self.agent_ids[b]]
            if not _same(first, other):
                raise SpecError(
                    f"env {self.spec.name!r}: agents {self.agent_ids[bodies[0]]} ({_describe(first)}) and "
                    f"{self.agent_ids[b]} ({_describe(other)}) have different spaces; one lab agent cannot "
                    "share parameters across them: use independent learners per group of alike agents"
                )
        return BodySpaces(first.obs_dim, first.action_dim, first.is_discrete, len(bodies), first.action_low, first.action_high)

    @property
    def spaces(self) -> BodySpaces:
        """All bodies' spaces, for parameter sharing (a SpecError when the agents differ)."""
        return self.body_spaces(None)

    def groups(self) -> list[list[int]]:
        """Bodies grouped by identical spaces, in body order: the natural independent learners."""
        out: list[list[int]] = []
        for b, a in enumerate(self.agent_ids):
            for group in out:
                if _same(self.agent_spaces[self.agent_ids[group[0]]], self.agent_spaces[a]):
                    group.append(b)
                    break
            else:
                out.append([b])
        return out

    def random_actions(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random joint action, each body within its own space (random baselines)."""
        if self.is_discrete:
            return np.array([rng.integers(0, self.agent_spaces[a].action_dim) for a in self.agent_ids])
        return rng.uniform(self._low, self._high).astype(np.float32)

    # --- centralized critics ---------------------------------------------------------------

    @property
    def state_dim(self) -> int | None:
        """The size of the env's global state (PettingZoo `state_space`), None when it has none."""
        try:
            space = self.penv.state_space
        except (AttributeError, NotImplementedError):
            return None
        return int(np.prod(space.shape)) if isinstance(space, gym.spaces.Box) else None

    def track_global_state(self) -> int:
        """From now on every step (and reset) also gives the global state; returns its size."""
        if self.state_dim is None:
            raise SpecError(f"env {self.spec.name!r} has no global state (no PettingZoo state_space); "
                            "use algorithm.critic_input 'joint' (every agent's observation) instead of 'state'")
        self._tracks_state = True
        if self._seeded:  # the game is under way: its state goes with the states already handed out
            self._global_state = self._read_global_state()
        return self.state_dim

    def global_state(self) -> np.ndarray | None:
        """The global state that goes with the last `state` handed out (None unless tracked)."""
        return self._global_state

    def _read_global_state(self) -> np.ndarray | None:
        return np.asarray(self.penv.state(), dtype=np.float32).reshape(-1) if self._tracks_state else None

    def critic_dim(self, kind: str, body_id: bool) -> int:
        """The size of one body's critic input of `kind` ("joint" or "state"), id included; asking
        for a "state" one turns on the tracking of global states (a SpecError when there is none)."""
        base = sum(self._obs_dims) if kind == "joint" else self.track_global_state()
        return base + (self.num_bodies if body_id else 0)

    def critic_inputs(self, kind: str, states: np.ndarray, global_state: np.ndarray | None, body_id: bool) -> np.ndarray:
        """[N, critic_dim]: the same joint observation (from the stacked `states`) or global
        state for every body, then (with `body_id`) body i's one-hot index, which lets one
        shared critic tell the bodies apart (MAPPO's agent-specific global state)."""
        if kind == "joint":
            shared = states[self._real_cols]
        elif global_state is None:
            raise RuntimeError(f"{self.spec.name}: a 'state' critic input before the global state was tracked")
        else:
            shared = global_state
        out = np.broadcast_to(shared.astype(np.float32), (self.num_bodies, shared.shape[0]))
        return np.concatenate([out, np.eye(self.num_bodies, dtype=np.float32)], axis=1) if body_id else out.copy()

    # --- the GymEnv interface ---------------------------------------------------------------

    def _stack(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        out = np.zeros((self.num_bodies, self.obs_width), dtype=np.float32)
        for i, a in enumerate(self.agent_ids):
            out[i, : self._obs_dims[i]] = obs[a]
        return out

    def _reset_env(self) -> np.ndarray:
        # seed the first reset only; later resets continue the env's generator, as in GymEnv
        obs, _ = self.penv.reset(seed=None if self._seeded else self.seed)
        self._seeded = True
        missing = [a for a in self.agent_ids if a not in obs]
        if missing:
            raise SpecError(f"env {self.spec.name!r}: agents {missing} are absent after reset; the lab needs all possible_agents present")
        self.episodes.restart()
        self._global_state = self._read_global_state()
        return self._stack(obs)

    def reset(self) -> np.ndarray:
        """Reset the env: [N, obs] for the N agents in `agent_ids` order."""
        return self._reset_env()

    def _action_dict(self, action: np.ndarray) -> dict[str, Any]:
        if self.is_discrete:
            flat = np.asarray(action).reshape(self.num_bodies)
            return {a: int(flat[i]) for i, a in enumerate(self.agent_ids)}
        acts = np.asarray(action, dtype=np.float32).reshape(self.num_bodies, -1)
        if acts.shape[1] < self.act_width:
            raise ValueError(f"{self.spec.name}: actions of shape {acts.shape}, expected [{self.num_bodies}, {self.act_width}]")
        acts = np.clip(acts[:, : self.act_width], self._low, self._high)
        return {a: acts[i, : self.agent_spaces[a].action_dim] for i, a in enumerate(self.agent_ids)}

    def step(self, action: np.ndarray) -> StepResult:
        """Act for all agents; when the episode ends, reset at once (SAME_STEP autoreset)."""
        obs, rewards, terms, truncs, _ = self.penv.step(self._action_dict(action))
        ids = self.agent_ids
        reward = np.array([rewards.get(a, 0.0) for a in ids], dtype=np.float32)
        terminated = np.array([bool(terms.get(a, False)) for a in ids])
        truncated = np.array([bool(truncs.get(a, False)) for a in ids])
        self.episodes.add(reward)
        if self.max_t is not None and self.episodes.lengths[0] >= self.max_t:
            truncated |= ~terminated
        done = terminated | truncated
        next_state = self._stack(obs)
        next_global = self._read_global_state()  # before a reset replaces the game
        n_done = 0
        if done.any():
            if not done.all():
                ended = [a for a, d in zip(ids, done) if d]
                raise RuntimeError(
                    f"{self.spec.name}: agents {ended} ended before the others; the lab's PettingZoo adapter "
                    "needs every agent's episode to end on the same step"
                )
            n_done = self.episodes.end(done)
            state = self._reset_env()
        else:
            state = next_state
            self._global_state = next_global
        self.clock.tick(self.num_bodies, n_done)
        return StepResult(state, next_state, reward, terminated, truncated, self._global_state, next_global)

    def state_dict(self) -> dict[str, Any]:
        """The clock and finished-but-unlogged episodes (a PettingZoo env's game cannot be captured: a resume resets it)."""
        return {**self.clock.state_dict(), "finished": self.episodes.state_dict()["finished"]}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """False: the game itself is not restored, the caller resets the env."""
        self.clock.load_state_dict(state)
        self.episodes.load_state_dict(state, running=False)
        self.seed = derive_seed(self.seed, self.clock.frame, 1)  # the reset must not replay the first episodes
        return False

    def drain_finished(self) -> list[Episode]:
        return self.episodes.drain()

    def norm_state_dict(self) -> dict:
        """No observation / reward normalization here (GymEnv's interface)."""
        return {}

    def load_norm_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{self.spec.name}: PettingZoo envs keep no normalization statistics to load")

    def close(self) -> None:
        self.penv.close()
