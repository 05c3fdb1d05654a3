"""A Dict-observation task only an agent reading both entries solves (entry point
`multi_input_envs:ColourFlipEnv`; tests/ is on sys.path under pytest)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

EPISODE = 10
COLOURS = 3


class ColourFlipEnv(gym.Env):
    """The `image` (a 6x6 picture, HWC or CHW) lights one of 3 colour planes c; the Discrete
    `shift` entry is k in {0, 1, 2}. Reward 1 when the action is (c + k) mod 3, else 0; 10 steps
    an episode, so the best return is 10 and a random policy's mean is 10/3. Neither entry
    alone tells the answer (each leaves it uniform over the 3 actions)."""

    def __init__(self, channels_last: bool = True) -> None:
        self.channels_last = channels_last
        shape = (6, 6, COLOURS) if channels_last else (COLOURS, 6, 6)
        self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, shape, np.uint8),
                                                  "shift": gym.spaces.Discrete(COLOURS)})
        self.action_space = gym.spaces.Discrete(COLOURS)
        self.t, self.colour, self.shift = 0, 0, 0

    def _obs(self) -> dict:
        img = np.zeros((6, 6, COLOURS), np.uint8)
        img[:, :, self.colour] = 255
        return {"image": img if self.channels_last else np.transpose(img, (2, 0, 1)), "shift": self.shift}

    def _draw(self) -> None:
        self.colour, self.shift = (int(v) for v in self.np_random.integers(COLOURS, size=2))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw()
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == (self.colour + self.shift) % COLOURS)
        self.t += 1
        self._draw()
        return self._obs(), reward, False, self.t >= EPISODE, {}
