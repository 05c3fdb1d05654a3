"""PettingZoo AEC adapter: turn-based games (pettingzoo.classic) through their own AEC API.

Each PettingZoo agent is one body, in `possible_agents` order. One lab step is one move: the
player whose turn it is (`active`) moves with its body's action; the other bodies' actions
are ignored. A player's experience is its own turns: the AgentSpace (aeb.py) opens a
transition when a body moves and closes it at the body's next turn or at the game's end,
with every reward the body got meanwhile (Terry et al. 2021, "PettingZoo: Gym for
Multi-Agent Reinforcement Learning", the agent-environment-cycle model).

Observations: a Dict of `observation` (any Box, flattened to float32) and `action_mask` is
given as one flat vector, the observation then the mask (agent/masks.py). A waiting player's
mask is all zeros (nothing is legal for it): masked algorithms treat such rows as unmasked.

The game ends for all players at once (classic games do); the adapter then resets at once,
like the parallel adapter: the step hands back the final observations as `next_state`.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from slm_lab.env.clock import Clock
from slm_lab.env.protocol import BodySpaces, Episode, EpisodeTracker, StepResult
from slm_lab.env.pettingzoo import PettingZooEnv, _describe, _same, module_path
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec


def _aec_space(env_name: str, agent: str, obs_space: Any, act_space: Any) -> BodySpaces:
    if not isinstance(act_space, gym.spaces.Discrete):
        raise SpecError(f"env {env_name!r}: agent {agent}'s action space {act_space} is not Discrete (turn-based games are)")
    n = int(act_space.n)
    masked = isinstance(obs_space, gym.spaces.Dict) and "action_mask" in obs_space.spaces
    inner = obs_space["observation"] if masked else obs_space
    if not isinstance(inner, gym.spaces.Box):
        raise SpecError(f"env {env_name!r}: agent {agent}'s observation {inner} is not a Box (or a Dict of one and action_mask)")
    return BodySpaces(math.prod(inner.shape) + (n if masked else 0), n, True, 1, action_mask=masked)


class PettingZooAECEnv:
    """A PettingZoo AEC env; body i is `agent_ids[i]`; `active` marks who moves on the current state."""

    turn_based = True

    def __init__(self, spec: EnvSpec, seed: int = 0, num_envs: int | None = None, evaluation: bool = False,
                 train_env: Any = None, module: Any = None) -> None:
        """`num_envs`, `evaluation`, `train_env` are GymEnv's keywords, ignored (the bodies are the players)."""
        self.spec = spec
        self.seed = seed
        if module is None:
            import importlib

            module = importlib.import_module(module_path(spec.name))
        try:
            self.aec = module.env(**spec.kwargs)
        except TypeError as e:
            raise SpecError(f"env {spec.name!r}: bad kwargs {spec.kwargs}: {e}") from None
        self.agent_ids: list[str] = list(self.aec.possible_agents)
        self.num_bodies = len(self.agent_ids)
        self.agent_spaces = {a: _aec_space(spec.name, a, self.aec.observation_space(a), self.aec.action_space(a))
                             for a in self.agent_ids}
        self.is_discrete = True
        self.obs_width = max(s.obs_dim for s in self.agent_spaces.values())
        self.clock = Clock(spec.max_frame)
        self.max_t = spec.max_t
        self.obs_dtype = np.float32
        self.active = np.zeros(self.num_bodies, dtype=bool)
        self.episodes = EpisodeTracker(self.num_bodies)  # every player's game has the same length (moves)
        self._seeded = False

    def body_spaces(self, bodies: list[int] | None = None) -> BodySpaces:
        """The spaces of a group of bodies (all when None), which must all be the same."""
        bodies = list(range(self.num_bodies)) if bodies is None else list(bodies)
        first = self.agent_spaces[self.agent_ids[bodies[0]]]
        for b in bodies[1:]:
            other = self.agent_spaces[self.agent_ids[b]]
            if not _same(first, other):
                raise SpecError(f"env {self.spec.name!r}: players {self.agent_ids[bodies[0]]} ({_describe(first)}) and "
                                f"{self.agent_ids[b]} ({_describe(other)}) have different spaces: one lab agent cannot play both")
        return BodySpaces(first.obs_dim, first.action_dim, True, len(bodies), action_mask=first.action_mask)

    @property
    def spaces(self) -> BodySpaces:
        return self.body_spaces(None)

    def random_actions(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random legal move for the player to move (random baselines)."""
        actions = np.zeros(self.num_bodies, dtype=np.int64)
        b = int(np.flatnonzero(self.active)[0])
        sp = self.agent_spaces[self.agent_ids[b]]
        obs = self._observe(self.agent_ids[b])
        legal = obs[-sp.action_dim:] > 0.5 if sp.action_mask else np.ones(sp.action_dim, dtype=bool)
        actions[b] = rng.choice(np.flatnonzero(legal)) if legal.any() else rng.integers(sp.action_dim)
        return actions

    # --- the GymEnv interface ---------------------------------------------------------------

    def _observe(self, agent: str) -> np.ndarray:
        obs = self.aec.observe(agent)
        if isinstance(obs, dict):
            return np.concatenate([np.asarray(obs["observation"], np.float32).ravel(), np.asarray(obs["action_mask"], np.float32)])
        return np.asarray(obs, np.float32).ravel()

    def _stack(self) -> np.ndarray:
        out = np.zeros((self.num_bodies, self.obs_width), dtype=np.float32)
        for i, a in enumerate(self.agent_ids):
            row = self._observe(a)
            out[i, : row.size] = row
        self.active = np.array([a == self.aec.agent_selection for a in self.agent_ids])
        return out

    def reset(self) -> np.ndarray:
        """A new game (seeded the first time; later games continue the env's generator)."""
        self.aec.reset(seed=None if self._seeded else self.seed)
        self._seeded = True
        self.episodes.restart()
        return self._stack()

    def step(self, action: np.ndarray) -> StepResult:
        """The player to move plays its body's action; on the game's end, a new game starts."""
        mover = self.aec.agent_selection
        self.aec.step(int(np.asarray(action).reshape(self.num_bodies)[self.agent_ids.index(mover)]))
        ids = self.agent_ids
        reward = np.array([self.aec.rewards.get(a, 0.0) for a in ids], dtype=np.float32)
        terminated = np.array([bool(self.aec.terminations.get(a, False)) for a in ids])
        truncated = np.array([bool(self.aec.truncations.get(a, False)) for a in ids])
        self.episodes.add(reward)
        if self.max_t is not None and self.episodes.lengths[0] >= self.max_t:
            truncated |= ~terminated
        next_state = self._stack()
        n_done = 0
        if (terminated | truncated).any():  # classic games end for every player together
            ended = bool(terminated.any())  # a win, loss or draw ends it for all; else the time limit did
            terminated, truncated = np.full(self.num_bodies, ended), np.full(self.num_bodies, not ended)
            n_done = self.episodes.end(np.ones(self.num_bodies, dtype=bool))
            state = self.reset()
        else:
            state = next_state
        self.clock.tick(1, n_done)  # one frame per move
        return StepResult(state, next_state, reward, terminated, truncated)

    def drain_finished(self) -> list[Episode]:
        return self.episodes.drain()

    # the clock and unlogged episodes, as the parallel adapter (a game in progress is not restored)
    state_dict = PettingZooEnv.state_dict
    load_state_dict = PettingZooEnv.load_state_dict
    norm_state_dict = PettingZooEnv.norm_state_dict
    load_norm_state_dict = PettingZooEnv.load_norm_state_dict

    def close(self) -> None:
        self.aec.close()
