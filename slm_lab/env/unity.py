"""Unity SLM-Env adapter: a client for the prebuilt Unity ml-agents "API-2" players.

One `UnityEnv` is one env of the AEB space; its bodies are the agents of one brain of the
Unity academy (3DBall: 12 platforms, Tennis: 32 players). It exposes the same interface as
`slm_lab.env.gymnasium.GymEnv`, so the session loop cannot tell them apart.

The wire protocol is in unity_protocol.py, the player process in unity_process.py and
Tennis' court-relative view (an observation transform) in unity_tennis.py.

What differs from Gymnasium, by nature of these players:

- **Agents reset themselves.** An episode ends per agent (`dones`); that agent restarts on
  its own, so the adapter tracks each body's return and length itself.
- **The terminal observation is lost.** The step reporting `done` already carries the next
  episode's first observation, so for those bodies `next_state` is that first observation.
  The protocol cannot tell a fall from a time limit, so a done is `terminated` unless the
  body has played exactly as many steps as the player's own episode cap
  (PLAYER_EPISODE_STEPS, measured on the shipped players): that done is the player's time
  limit, reported as `truncated`, and since its true last observation is lost, the body's
  previous observation stands in for it as `next_state` (V(s_T-1) for V(s_T) in the
  bootstrap: one step apart). Where the adapter itself cuts an episode (`max_t`, or the
  academy's done flag) the true last observation is known and is handed back with
  `truncated`.
- **`max_t` is a soft limit.** The lab cannot reset one Unity agent, so at `max_t` steps a
  body's episode is counted as truncated while the agent plays on from the same state.
- **Seeds are ignored.** The players have no seed input: Unity runs are not reproducible,
  and two runs with the same spec seed differ.
- Rewards that come with a reset (3DBall reports 0.1) are not rewards for any action and
  are dropped. Camera frames (gridworld's 32x32) are read off the wire and discarded; the
  bodies see the vector state only.

Options (`env.kwargs`; every other key is an academy reset parameter, see
`unity_install.unity_options`): `brain` picks the controlled brain; `action_size` gives the
bodies a discrete action count other than the brain's declared one (3dball's agent code
obeys 4 actions but its brain declares 2); `court_relative` (tennis, on by default) makes
the x positions relative to each body's own net (unity_tennis.py).

Cleanup: the player runs in its own session (process group) with a parent-death signal of
SIGKILL, so it dies with the lab even when the lab is SIGKILLed (Linux ties that signal to
the *thread* that started the player: make a UnityEnv in a thread that outlives it, as the
lab's session loop does); `close()`, an exit of the
interpreter and the garbage collector all send EXIT, wait, then kill the group. Each player
started is listed in the lab's pid files (`slm_lab.lib.pids`, kind "unity") while it runs,
for `slm-lab kill`.
"""


from __future__ import annotations

import json
import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.env.clock import Clock
from slm_lab.env.protocol import BodySpaces, Episode, EpisodeTracker, StepResult
from slm_lab.env.unity_install import UNITY_ENVS, binary_path, is_installed, unity_options
from slm_lab.env.unity_process import UnityProcess
from slm_lab.env.unity_protocol import Burst, UnityConnection, UnityEnvError
from slm_lab.env.unity_tennis import CourtRelative, court_relative, tennis_net_offsets
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

logger = get_logger(__name__)

PREFIX = "unity:"
DEFAULT_TIMEOUT_S = 60.0  # launch takes 0.6-2.2 s and a step a few ms; this only catches hangs

# The step on which each player ends an episode by itself, counted from the agent's own
# restart (a `max_t` cut does not restart it): every 3DBall episode that keeps the ball up
# ends at 1001 steps (return 100.1), a gridworld agent walking into a wall at 101, the
# longest tennis rallies at 1000.
PLAYER_EPISODE_STEPS = {"3dball": 1001, "gridworld": 101, "tennis": 1000}

__all__ = ["UnityEnv", "UnityEnvError", "court_relative", "tennis_net_offsets", "unity_name"]


def unity_name(env_name: str) -> str:
    """`unity:3dball` -> `3dball`, checking it is a known Unity env (SpecError otherwise)."""
    if not env_name.startswith(PREFIX):
        raise SpecError(f"env {env_name!r} is not a Unity env name (unity:<name>)")
    name = env_name[len(PREFIX):]
    if name not in UNITY_ENVS:
        raise SpecError(f"env {env_name!r}: unknown Unity env (known: {', '.join(PREFIX + n for n in UNITY_ENVS)})")
    return name


class UnityEnv:
    """One Unity academy; the agents of one of its brains are the bodies (the ml-agents
    platform: Juliani et al. 2018, "Unity: A General Platform for Intelligent Agents").

    `num_envs`, `evaluation` and `train_env` are accepted for GymEnv's signature and ignored:
    the bodies are fixed by the player and nothing is processed for training only.
    `binary` overrides the installed player (tests use fake ones); `port` 0 lets the OS pick
    a free loopback port, and any other port must be free; `timeout_s` bounds every wait
    (accept, receive) and the error then carries the tail of the Unity logs.
    """

    def __init__(
        self,
        spec: EnvSpec,
        seed: int = 0,
        num_envs: int | None = None,
        evaluation: bool = False,
        train_env: Any = None,
        *,
        binary: str | Path | None = None,
        port: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.name = unity_name(spec.name)
        self.seed = seed  # recorded only: Unity players cannot be seeded
        self.timeout_s = timeout_s
        if num_envs not in (None, 1):
            logger.debug("%s has a fixed number of bodies; num_envs=%s is ignored", spec.name, num_envs)
        options = unity_options(self.name, spec.kwargs)
        self.brain_name, self.reset_params = options.brain, options.reset_params
        self.action_size_override = options.action_size
        self.court_relative = options.court_relative
        self.court = CourtRelative() if options.court_relative else None  # fitted at the first reset
        self.binary = Path(binary) if binary is not None else binary_path(self.name)
        if binary is None and not is_installed(self.name):
            raise SpecError(f"env {spec.name!r} is not installed: run `slm-lab env install {self.name}`")
        if not self.binary.is_file():
            raise SpecError(f"env {spec.name!r}: Unity player {self.binary} does not exist")
        if not os.access(self.binary, os.X_OK):
            raise SpecError(f"env {spec.name!r}: Unity player {self.binary} is not executable (chmod +x it)")
        self._res = UnityProcess()
        self._finalizer = weakref.finalize(self, self._res.release)  # also runs at interpreter exit
        try:
            self.port = self._res.start(self.binary, spec.name, self.name, port, timeout_s)
            self.pid, self.pid_file, self.log_file = self._res.proc.pid, self._res.pid_file, self._res.log_file
            self.wire = UnityConnection(self._res.conn, spec.name, timeout_s, self._res.error, lambda: self._res.closed)
            self._handshake()
        except BaseException:
            self.close()
            raise
        self.clock = Clock(spec.max_frame)
        self.max_t = spec.max_t
        self.player_episode_steps = PLAYER_EPISODE_STEPS.get(self.name)
        self.player_lengths = np.zeros(self.num_bodies, dtype=np.int64)  # steps since the agent's own restart
        self._last_obs: np.ndarray | None = None
        self.obs_dtype = np.float32
        self.episodes = EpisodeTracker(self.num_bodies)
        self._needs_reset = True
        logger.info("%s: brain %s, %d bodies (Unity ignores seeds: runs are not reproducible)",
                    spec.name, self.brain.name, self.num_bodies)

    # --- set-up -------------------------------------------------------------------------

    def _handshake(self) -> None:
        hello = self.wire.read_hello()
        self.academy = hello.get("AcademyName", "?")
        self.known_params = dict(hello.get("resetParameters") or {})
        unknown = sorted(set(self.reset_params) - set(self.known_params))
        if unknown:
            known = ", ".join(self.known_params) or "none"
            raise SpecError(f"env {self.spec.name!r}: unknown reset parameter(s) {', '.join(unknown)} (known: {known})")
        self.brains, self.external = self.wire.brains, self.wire.external
        if not self.external:
            raise self._error(f"Unity academy {self.academy} has no external brain to control")
        name = self.brain_name or self.external[0]
        if name not in self.external:
            raise SpecError(f"env {self.spec.name!r}: brain {name!r} is not an external brain (external: {', '.join(self.external)})")
        self.brain = self.brains[name]
        if self.brain.discrete_state:
            raise SpecError(f"env {self.spec.name!r}: brain {name} has a discrete state space, which the lab does not support")
        # the body count is only known from a state burst: reset once now
        burst, _ = self._exchange_reset()
        self.agent_ids = list(burst[name]["agents"])
        self.num_bodies = len(self.agent_ids)
        if self.num_bodies == 0:
            with_agents = [b for b in self.external if burst[b]["agents"]]
            raise SpecError(f"env {self.spec.name!r}: brain {name} has no agents (brains with agents: {', '.join(with_agents) or 'none'})")
        self._first_burst = burst
        if self.court_relative:
            if self.brain.state_size != 8:
                raise SpecError(f"env {self.spec.name!r}: court_relative expects 8 tennis observations, brain {name} has {self.brain.state_size}")
            try:
                self.court.fit(self._raw_states(burst[name]))
            except ValueError as e:
                raise self._error(f"court_relative: {e}") from None
        b = self.brain
        if self.action_size_override is not None and not b.discrete_action:
            raise SpecError(f"env {self.spec.name!r}: action_size applies to discrete brains; {name} is continuous")
        if b.discrete_action:
            # the override exists because a player may obey more actions than its brain
            # declares (3dball declares 2, its agent code also tilts about the second axis
            # with 3 and 4: bench/unity_3dball_ceiling.py); indices are sent as they are
            n_actions = self.action_size_override or b.action_size
            self.spaces = BodySpaces(b.state_size, n_actions, True, self.num_bodies)
        else:
            # ml-agents continuous controllers expect actions in [-1, 1]
            ones = np.ones(b.action_size, dtype=np.float32)
            self.spaces = BodySpaces(b.state_size, b.action_size, False, self.num_bodies, -ones, ones)

    @property
    def net_offsets(self) -> np.ndarray | None:
        """court_relative: each body's net x (found at the first reset), else None."""
        return self.court.offsets if self.court is not None else None

    def _error(self, what: str) -> UnityEnvError:
        return self._res.error(what)

    def _exchange_reset(self) -> tuple[Burst, bool]:
        return self.wire.reset(self.reset_params)

    # --- the GymEnv interface -------------------------------------------------------------

    def _raw_states(self, msg: dict[str, Any]) -> np.ndarray:
        """The brain's states as [B, obs], rows in the fixed body order of `agent_ids`."""
        states = np.asarray(msg["states"], dtype=np.float32).reshape(len(msg["agents"]), self.brain.state_size)
        return states[self._order(msg)]

    def _states(self, msg: dict[str, Any]) -> np.ndarray:
        """What the bodies see: the raw states, court-relative where that is on."""
        states = self._raw_states(msg)
        if self.court is not None:
            states = self.court(states)
        return states

    def _order(self, msg: dict[str, Any]) -> np.ndarray | slice:
        ids = msg["agents"]
        if ids == self.agent_ids:
            return slice(None)
        index = {agent: i for i, agent in enumerate(ids)}
        if len(ids) != len(self.agent_ids) or any(a not in index for a in self.agent_ids):
            raise self._error(f"the agents of brain {self.brain.name} changed from {self.agent_ids} to {ids}")
        return np.array([index[a] for a in self.agent_ids])

    def reset(self) -> np.ndarray:
        """Reset the academy (all bodies start an episode); returns [B, obs]."""
        if self._first_burst is not None:  # the reset that counted the bodies is fresh
            burst, self._first_burst = self._first_burst, None
        else:
            burst, _ = self._exchange_reset()
        self._remember_order(burst)
        self.episodes.restart()
        self.player_lengths[:] = 0
        self._needs_reset = False
        self._last_obs = self._states(burst[self.brain.name])
        return self._last_obs

    def _action_message(self, action: np.ndarray) -> bytes:
        b = self.brain
        if b.discrete_action:
            flat = np.asarray(action).reshape(self.num_bodies).astype(np.float64)
        else:
            flat = np.clip(np.asarray(action, dtype=np.float64).reshape(self.num_bodies, b.action_size), -1.0, 1.0)
            flat = np.round(flat, 6)  # keeps the message short: Unity reads at most 12000 bytes
        rows = flat.reshape(self.num_bodies, -1)
        order = self._send_order
        if not isinstance(order, slice):
            unity_rows = np.empty_like(rows)
            unity_rows[order] = rows  # body i is at Unity position order[i]
            rows = unity_rows
        msg: dict[str, dict[str, list[float]]] = {"action": {}, "memory": {}, "value": {}}
        for name in self.external:
            other = self.brains[name]
            n = self._n_agents[name]
            if name == b.name:
                acts = rows.ravel().tolist()
            else:  # brains the lab does not control get zero actions
                acts = [0.0] * (n * (1 if other.discrete_action else other.action_size))
            msg["action"][name] = acts
            msg["memory"][name] = [0.0] * (n * other.memory_size)
            msg["value"][name] = [0.0] * n
        return json.dumps(msg, separators=(",", ":")).encode()

    def step(self, action: np.ndarray) -> StepResult:
        """Act for every body; bodies whose episode ended start the next one (see module notes)."""
        if self._needs_reset:
            raise UnityEnvError(f"{self.spec.name}: call reset() before step()")
        burst, academy_done = self.wire.step(self._action_message(action))
        self._remember_order(burst)
        msg = burst[self.brain.name]
        order = self._order(msg)
        obs = self._states(msg)
        reward = np.asarray(msg["rewards"], dtype=np.float32)[order]
        player_done = np.asarray(msg["dones"], dtype=bool)[order]  # the agent restarted itself
        terminated, truncated = player_done, np.zeros(self.num_bodies, dtype=bool)
        self.episodes.add(reward)
        self.player_lengths += 1
        next_state = obs
        if self.player_episode_steps is not None:
            capped = player_done & (self.player_lengths == self.player_episode_steps)
            if capped.any():  # the player's time limit, not a fall (see the module notes)
                terminated, truncated = terminated & ~capped, truncated | capped
                next_state = obs.copy()
                next_state[capped] = self._last_obs[capped]
        if self.max_t is not None:
            truncated |= (self.episodes.lengths >= self.max_t) & ~terminated
        if academy_done:
            # the academy ended every episode: the states are true last observations
            truncated |= ~terminated
            reset_burst, _ = self._exchange_reset()
            self._remember_order(reset_burst)
            obs = self._states(reset_burst[self.brain.name])
        done = terminated | truncated
        # (after an academy reset the players stand elsewhere: nothing to check then)
        if self.court is not None and terminated.any() and not academy_done:
            miss = self.court.check_episode_starts(obs[terminated])
            if miss is not None:
                logger.warning("%s: court_relative: an episode started %.3g from where the net offsets put it; "
                               "the observations may not be court-relative", self.spec.name, miss)
        n_done = self.episodes.end(done)
        self.player_lengths[player_done] = 0
        if academy_done:
            self.player_lengths[:] = 0
        self.clock.tick(self.num_bodies, n_done)
        self._last_obs = obs
        return StepResult(obs, next_state, reward, terminated, truncated)

    def _remember_order(self, burst: Burst) -> None:
        self._n_agents = {name: len(msg["agents"]) for name, msg in burst.items()}
        self._send_order = self._order(burst[self.brain.name])

    def state_dict(self) -> dict[str, Any]:
        """The clock and finished-but-unlogged episodes (a Unity player's game cannot be captured: a resume resets it)."""
        return {**self.clock.state_dict(), "finished": self.episodes.state_dict()["finished"]}

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """False: the game itself is not restored, the caller resets the env."""
        self.clock.load_state_dict(state)
        self.episodes.load_state_dict(state, running=False)
        return False

    def drain_finished(self) -> list[Episode]:
        return self.episodes.drain()

    def norm_state_dict(self) -> dict:
        """No observation / reward normalization here (GymEnv's interface)."""
        return {}

    def load_norm_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{self.spec.name}: Unity envs keep no normalization statistics to load")

    def close(self) -> None:
        """Send EXIT, wait for the player, kill its process group; safe to call twice."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._res.closed

    def __enter__(self) -> UnityEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
