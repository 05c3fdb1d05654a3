"""Memory tasks: small Gymnasium envs that a feed-forward policy cannot solve.

Registered on import (the Gymnasium adapter imports this module, so every session process
has them) under the lab's own namespace:

- `slm_lab/CueCorridor-v0`: a cue-then-act corridor, the T-maze of Bakker (2002),
  "Reinforcement Learning with Long Short-Term Memory" (NIPS 14). A cue (+1 or -1) is
  shown at step 0 only; after `length` steps in which the action does not matter the agent
  stands at the junction and must pick the action the cue named. Reward 1 for the right
  pick, 0 for the wrong one, so the mean return is the success rate. Every junction
  observation is the same whatever the cue: a memoryless policy succeeds half the time.
- `slm_lab/CartPoleNoVelocity-v0`: CartPole-v1 seeing only cart position and pole angle
  (the velocities must be inferred from successive observations), as in the partially
  observed CartPole of SB3-contrib's RecurrentPPO benchmark ("CartPoleNoVel-v1").
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

CUE_CORRIDOR = "slm_lab/CueCorridor-v0"
CARTPOLE_NO_VELOCITY = "slm_lab/CartPoleNoVelocity-v0"


class CueCorridor(gym.Env):
    """Observation [cue, at_junction]: cue is +1 or -1 at step 0 and 0 after; at_junction is 1 on
    the last step. Actions: 0 or 1; only the one taken at the junction counts (1 for cue +1).
    An episode lasts `length + 1` steps and ends terminated."""

    metadata = {"render_modes": []}

    def __init__(self, length: int = 10, render_mode: str | None = None) -> None:
        if length < 1:
            raise ValueError(f"CueCorridor length must be at least 1, not {length}")
        self.length = int(length)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.cue, self.t = 0, 0

    def _obs(self) -> np.ndarray:
        cue = (1.0 if self.cue == 1 else -1.0) if self.t == 0 else 0.0
        return np.array([cue, float(self.t == self.length)], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.cue = int(self.np_random.integers(2))
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.t < self.length:
            self.t += 1
            return self._obs(), 0.0, False, False, {}
        success = int(action) == self.cue
        return self._obs(), float(success), True, False, {"success": success}


class PositionsOnly(gym.ObservationWrapper):
    """CartPole's observation without its two velocities: [cart position, pole angle]."""

    KEEP = [0, 2]

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gym.spaces.Box(space.low[self.KEEP], space.high[self.KEEP], dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.asarray(observation, dtype=np.float32)[self.KEEP]


def cartpole_no_velocity(**kwargs: Any) -> gym.Env:
    """CartPole-v1's dynamics (500-step limit from the registration) behind PositionsOnly."""
    return PositionsOnly(CartPoleEnv(**kwargs))


def register() -> None:
    """Register the memory tasks once per process (importing this module does it)."""
    if CUE_CORRIDOR not in gym.envs.registry:
        gym.register(id=CUE_CORRIDOR, entry_point=f"{__name__}:CueCorridor", reward_threshold=0.9)
    if CARTPOLE_NO_VELOCITY not in gym.envs.registry:
        gym.register(id=CARTPOLE_NO_VELOCITY, entry_point=f"{__name__}:cartpole_no_velocity",
                     max_episode_steps=500, reward_threshold=475.0)


register()
