"""Small envs with MultiDiscrete and MultiBinary actions (named as `action_space_envs:<Class>`).

Each step shows a random cue and pays the fraction of action dims that match it, 10 steps an
episode: the maximum return is 10, and a uniformly random policy scores 10 * mean_i(1 / n_i)
(5 for bits)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

EPISODE = 10


class CueMatchEnv(gym.Env):
    """The observation is a random cue, digit i in [0, nvec[i]) one-hot per dim; the action must
    repeat the cue (MultiDiscrete(nvec)); reward = the fraction of dims repeated."""

    def __init__(self, nvec: tuple[int, ...] = (3, 4, 5)) -> None:
        self.nvec = np.asarray(nvec, dtype=np.int64)
        self.action_space = gym.spaces.MultiDiscrete(self.nvec)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (int(self.nvec.sum()),), np.float32)
        self.offsets = np.concatenate([[0], np.cumsum(self.nvec)[:-1]])
        self.t, self.cue = 0, np.zeros(len(self.nvec), dtype=np.int64)

    def _draw(self) -> np.ndarray:
        self.cue = self.np_random.integers(0, self.nvec)
        obs = np.zeros(self.observation_space.shape, np.float32)
        obs[self.offsets + self.cue] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action)), action
        reward = float(np.mean(np.asarray(action) == self.cue))
        self.t += 1
        return self._draw(), reward, False, self.t >= EPISODE, {}


class BitMatchEnv(gym.Env):
    """The observation is a random pattern of n bits (as +-1); the action must copy it
    (MultiBinary(n)); reward = the fraction of bits copied."""

    def __init__(self, n: int = 6) -> None:
        self.n = n
        self.action_space = gym.spaces.MultiBinary(n)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (n,), np.float32)
        self.t, self.bits = 0, np.zeros(n, dtype=np.int64)

    def _draw(self) -> np.ndarray:
        self.bits = self.np_random.integers(0, 2, self.n)
        return (2.0 * self.bits - 1.0).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw(), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action)), action
        reward = float(np.mean(np.asarray(action) == self.bits))
        self.t += 1
        return self._draw(), reward, False, self.t >= EPISODE, {}


class MultiDiscreteGrid(CueMatchEnv):
    """A 2-D MultiDiscrete action space, which the lab refuses (only flat ones are taken)."""

    def __init__(self) -> None:
        super().__init__()
        self.action_space = gym.spaces.MultiDiscrete([[2, 2], [2, 2]])
