"""A Dict-observation task only an agent reading both entries solves (entry point
`multi_input_envs:ColourFlipEnv`; tests/ is on sys.path under pytest)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

EPISODE = 10
COLOURS, SHIFTS = 3, 2


class ColourFlipEnv(gym.Env):
    """The `image` (a 6x6 picture, HWC or CHW) lights one of 3 colour planes c; the Discrete
    `shift` entry is k in {0, 1}. Reward 1 when the action (one of 6) is c + 3k, else 0; 10
    steps an episode, so the best return is 10 and a random policy's mean is 10/6. Either entry
    alone gets at most half of it (the image leaves 2 answers, the shift 3)."""

    def __init__(self, channels_last: bool = True) -> None:
        self.channels_last = channels_last
        shape = (6, 6, COLOURS) if channels_last else (COLOURS, 6, 6)
        self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, shape, np.uint8),
                                                  "shift": gym.spaces.Discrete(SHIFTS)})
        self.action_space = gym.spaces.Discrete(COLOURS * SHIFTS)
        self.t, self.colour, self.shift = 0, 0, 0

    def _obs(self) -> dict:
        img = np.zeros((6, 6, COLOURS), np.uint8)
        img[:, :, self.colour] = 255
        return {"image": img if self.channels_last else np.transpose(img, (2, 0, 1)), "shift": self.shift}

    def _draw(self) -> None:
        self.colour, self.shift = int(self.np_random.integers(COLOURS)), int(self.np_random.integers(SHIFTS))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self._draw()
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == self.colour + COLOURS * self.shift)
        self.t += 1
        self._draw()
        return self._obs(), reward, False, self.t >= EPISODE, {}


class RankFourEntryEnv(ColourFlipEnv):
    """A Dict with an entry no encoder takes (a Box of rank 4): refused by `slm-lab check`."""

    def __init__(self) -> None:
        super().__init__()
        self.observation_space = gym.spaces.Dict({"video": gym.spaces.Box(0, 255, (2, 6, 6, 3), np.uint8),
                                                  "shift": gym.spaces.Discrete(SHIFTS)})
