"""A test-only env for divergence: CartPole whose rewards turn NaN in one chosen session.

Used as the entry point `diverging_env:NaNRewardCartPole` (tests/ is on sys.path under
pytest, and spawned session processes inherit it). A session is chosen by the seed its
env is first reset with, so the other sessions of the same trial see plain CartPole.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class NaNRewardCartPole(CartPoleEnv):
    """CartPole; after `nan_after` steps its rewards are NaN if its first seeded reset used `nan_seed`."""

    def __init__(self, nan_seed: int = -1, nan_after: int = 100, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.nan_seed, self.nan_after = nan_seed, nan_after
        self.poisoned, self.steps = False, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.poisoned = seed == self.nan_seed
        return super().reset(seed=seed, options=options)

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        if self.poisoned and self.steps > self.nan_after:
            reward = float("nan")
        return obs, reward, terminated, truncated, info
