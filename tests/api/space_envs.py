"""Small envs with every observation space (imported as `space_envs:<id>`, which registers them)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

EPISODE = 10


class IdentityEnv(gym.Env):
    """Reward 1 when the action names the hidden symbol shown through `observation_space`;
    10 steps an episode, so the maximum return is 10."""

    def __init__(self, kind: str = "discrete", n: int = 4) -> None:
        self.n, self.kind = n, kind
        self.action_space = gym.spaces.Discrete(n)
        self.observation_space = {
            "discrete": gym.spaces.Discrete(n),
            "multidiscrete": gym.spaces.MultiDiscrete([n, 3]),
            "multibinary": gym.spaces.MultiBinary(n),
            "dict": gym.spaces.Dict({"symbol": gym.spaces.Discrete(n), "noise": gym.spaces.Box(-1, 1, (2,), np.float32)}),
            "tuple": gym.spaces.Tuple((gym.spaces.Discrete(n), gym.spaces.Box(-1, 1, (2,), np.float32))),
            "hwc": gym.spaces.Box(0, 255, (12, 12, 3), np.uint8),
            "chw": gym.spaces.Box(0, 255, (3, 12, 12), np.uint8),
            "graph": gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None),
        }[kind]
        self.t, self.symbol = 0, 0

    def _obs(self):
        s, rng = self.symbol, self.np_random
        if self.kind == "discrete":
            return s
        if self.kind == "multidiscrete":
            return np.array([s, rng.integers(3)])
        if self.kind == "multibinary":
            return np.eye(self.n, dtype=np.int8)[s]
        noise = rng.uniform(-1, 1, 2).astype(np.float32)
        if self.kind == "dict":
            return {"symbol": s, "noise": noise}
        if self.kind == "tuple":
            return (s, noise)
        img = np.zeros((12, 12, 3), np.uint8)
        img[:, :, s % 3] = 255 if s < 3 else 128
        return img if self.kind == "hwc" else np.transpose(img, (2, 0, 1))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.symbol = 0, int(self.np_random.integers(self.n))
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.symbol)
        self.t += 1
        self.symbol = int(self.np_random.integers(self.n))
        return self._obs(), reward, False, self.t >= EPISODE, {}


class MultiDiscreteActionEnv(IdentityEnv):
    """An env whose actions are MultiDiscrete (taken by the policy-gradient algorithms)."""

    def __init__(self) -> None:
        super().__init__("discrete")
        self.action_space = gym.spaces.MultiDiscrete([2, 2])


for _kind in ("discrete", "multidiscrete", "multibinary", "dict", "tuple", "hwc", "chw", "graph"):
    gym.register(f"SpaceTest/{_kind.capitalize()}Identity-v0", entry_point=IdentityEnv, kwargs={"kind": _kind})
gym.register("SpaceTest/MultiDiscreteAction-v0", entry_point=MultiDiscreteActionEnv)
