"""Action masks of Gymnasium envs, appended to the observation (agent/masks.py reads them there).

Two conventions are understood:
- a Dict observation with an `action_mask` entry (and the rest under `observation`), as
  PettingZoo classic games and many board-game envs give: found from the observation space;
- `info["action_mask"]` at reset and at every step (e.g. Gymnasium's Taxi-v4): asked for with
  `env.action_mask: "info"` in the spec (nothing in the spaces says an env does this).

Either way the sub-env's observation becomes one flat float32 Box: the observation, then one
entry per action, 1 where the action is legal. `metadata["action_mask"]` tells the adapter.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from slm_lab.spec.errors import SpecError


def _flat_box(inner: gym.spaces.Box, n: int) -> gym.spaces.Box:
    low = np.concatenate([np.broadcast_to(inner.low, inner.shape).ravel(), np.zeros(n)]).astype(np.float32)
    high = np.concatenate([np.broadcast_to(inner.high, inner.shape).ravel(), np.ones(n)]).astype(np.float32)
    return gym.spaces.Box(low, high, dtype=np.float32)


def _n_actions(env: gym.Env) -> int:
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise SpecError(f"env {env.spec.id if env.spec else env}: action masks need a Discrete action space, not {env.action_space}")
    return int(env.action_space.n)


class MaskFromDictObservation(gym.ObservationWrapper):
    """Dict(observation=Box, action_mask=MultiBinary/Box) -> Box [observation..., mask...]."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.n = _n_actions(env)
        inner = env.observation_space["observation"]
        if not isinstance(inner, gym.spaces.Box):
            raise SpecError(f"env observation {inner} beside its action_mask is not a Box")
        self.observation_space = _flat_box(inner, self.n)
        self.metadata = {**env.metadata, "action_mask": True}

    def observation(self, observation: dict[str, Any]) -> np.ndarray:
        return np.concatenate([np.asarray(observation["observation"], np.float32).ravel(),
                               np.asarray(observation["action_mask"], np.float32)])


class MaskFromInfo(gym.Wrapper):
    """Box observation + `info["action_mask"]` -> Box [observation..., mask...]."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.n = _n_actions(env)
        inner = env.observation_space
        if isinstance(inner, gym.spaces.Discrete):  # a state index (Taxi, FrozenLake): one-hot it
            inner = gym.spaces.Box(0.0, 1.0, (int(inner.n),), np.float32)
        if not isinstance(inner, gym.spaces.Box):
            raise SpecError(f"env observation space {inner} is not a Box or Discrete; env.action_mask 'info' cannot extend it")
        self.inner = inner
        self.observation_space = _flat_box(inner, self.n)
        self.metadata = {**env.metadata, "action_mask": True}

    def _with_mask(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        if "action_mask" not in info:
            raise RuntimeError("env.action_mask is 'info' but the env's info has no action_mask")
        if isinstance(self.env.observation_space, gym.spaces.Discrete):
            flat = np.zeros(self.inner.shape[0], np.float32)
            flat[int(obs)] = 1.0
        else:
            flat = np.asarray(obs, np.float32).ravel()
        return np.concatenate([flat, np.asarray(info["action_mask"], np.float32)])

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._with_mask(obs, info), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with_mask(obs, info), reward, terminated, truncated, info


def mask_wrapper(source: str) -> Any:
    """The sub-env wrapper for an env whose masks come from `source` ("auto" or "info")."""

    def wrap(env: gym.Env) -> gym.Env:
        if source == "info":
            return MaskFromInfo(env)
        space = env.observation_space
        if isinstance(space, gym.spaces.Dict) and "action_mask" in space.spaces:
            return MaskFromDictObservation(env)
        return env

    return wrap
