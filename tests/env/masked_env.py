"""A tiny Gymnasium env with action masks that refuses illegal actions (raises), for tests."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class PickLegal(gym.Env):
    """Each step a random non-empty subset of 6 actions is legal; an illegal action raises.
    Reward 1 for the highest legal action, else 0; 20 steps an episode. `in_info`: the mask
    comes in `info["action_mask"]` instead of a Dict observation."""

    def __init__(self, in_info: bool = False) -> None:
        self.in_info = in_info
        self.action_space = gym.spaces.Discrete(6)
        box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = box if in_info else gym.spaces.Dict({"observation": box, "action_mask": gym.spaces.MultiBinary(6)})

    def _obs(self):
        self.mask = (self.np_random.random(6) < 0.5).astype(np.int8)
        self.mask[self.np_random.integers(6)] = 1
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        if self.in_info:
            return obs, {"action_mask": self.mask}
        return {"observation": obs, "action_mask": self.mask}, {}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs()

    def step(self, action):
        if not self.mask[int(action)]:
            raise ValueError(f"illegal action {action} (mask {self.mask})")
        reward = float(int(action) == int(np.flatnonzero(self.mask).max()))
        self.t += 1
        obs, info = self._obs()
        return obs, reward, False, self.t >= 20, info
