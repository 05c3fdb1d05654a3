"""Exploration noise added to a deterministic policy's actions (TD3, DDPG), by name from the spec.

Noise is drawn in the actor's [-1, 1] action units, so `sigma` is a fraction of each Box
dimension's half-width (high - low) / 2: the same spec explores alike in envs of any scale.
"""

from __future__ import annotations

import math

import numpy as np


class GaussianNoise:
    """Independent N(0, sigma^2) per step and dimension (Fujimoto et al. 2018 use sigma 0.1)."""

    def __init__(self, sigma: float, shape: tuple[int, int], rng: np.random.Generator, **_: float) -> None:
        self.sigma = sigma
        self.shape = shape
        self.rng = rng

    def sample(self) -> np.ndarray:
        return self.rng.normal(0.0, self.sigma, self.shape).astype(np.float32)

    def reset(self, done: np.ndarray) -> None:
        """Nothing carries over between steps."""


class OrnsteinUhlenbeckNoise:
    """Temporally correlated noise, x <- x + theta (0 - x) dt + sigma sqrt(dt) N(0, 1), as in DDPG
    (Lillicrap et al. 2016: theta 0.15, sigma 0.2). Its stationary variance is
    sigma^2 / (theta (2 - theta dt)) and its lag-1 autocorrelation 1 - theta dt. Each body has
    its own process, restarted at 0 when its episode ends."""

    def __init__(self, sigma: float, shape: tuple[int, int], rng: np.random.Generator,
                 theta: float = 0.15, dt: float = 1e-2) -> None:
        self.sigma, self.theta, self.dt = sigma, theta, dt
        self.rng = rng
        self.x = np.zeros(shape, np.float32)

    def sample(self) -> np.ndarray:
        drift = -self.theta * self.x * self.dt
        diffusion = self.sigma * math.sqrt(self.dt) * self.rng.normal(size=self.x.shape)
        self.x = (self.x + drift + diffusion).astype(np.float32)
        return self.x.copy()

    def reset(self, done: np.ndarray) -> None:
        self.x[np.asarray(done, bool)] = 0.0


ACTION_NOISES = {"gaussian": GaussianNoise, "ou": OrnsteinUhlenbeckNoise}
