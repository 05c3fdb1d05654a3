"""Test-only envs that raise (entry points `raising_env:...`; tests/ is on sys.path under pytest,
and spawned session processes inherit it)."""

from __future__ import annotations

from typing import Any

from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class BrokenStepCartPole(CartPoleEnv):
    """CartPole whose every step raises: its random baseline cannot be measured."""

    def step(self, action: Any):
        raise RuntimeError("the simulator crashed")


class SessionBrokenCartPole(CartPoleEnv):
    """CartPole that raises on step unless its first seeded reset used seed 0 (as the random
    baseline's does): the baseline is measured, then every session fails."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(render_mode=render_mode)
        self.broken = True

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.broken = seed != 0
        return super().reset(seed=seed, options=options)

    def step(self, action: Any):
        if self.broken:
            raise RuntimeError("the simulator crashed")
        return super().step(action)
