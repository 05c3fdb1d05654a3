"""Return and advantage estimators on time-major [T, B] arrays.

Conventions: `next_values[t]` = V(s'_t), the value of the true next state (the final
observation when the episode ended). `terminated` cuts bootstrapping; `done` =
terminated or truncated cuts the backward recursion, so a truncated step still
bootstraps from V(s'_t) (Pardo et al. 2018, "Time Limits in Reinforcement Learning").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def discounted_returns(rewards: np.ndarray, done: np.ndarray, gamma: float) -> np.ndarray:
    """Monte Carlo returns G_t = r_t + gamma * (1 - done_t) * G_{t+1}, no bootstrap (REINFORCE)."""
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1:], dtype=rewards.dtype)
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * (1.0 - done[t]) * running
        returns[t] = running
    return returns


def nstep_returns(
    rewards: np.ndarray, next_values: np.ndarray, terminated: np.ndarray, done: np.ndarray, gamma: float, n: int
) -> np.ndarray:
    """n-step returns: sum_{k<m} gamma^k r_{t+k} + gamma^m (1 - term) V(s'_{t+m-1}),

    m = min(n, steps to the episode's end, steps to the rollout's end) (Mnih et al. 2016, A3C).
    Vectorized over t: a short loop over k only.
    """
    T = len(rewards)
    ret = np.zeros_like(rewards)
    discount = np.ones_like(rewards)
    alive = np.ones_like(rewards, dtype=bool)
    t_idx = np.arange(T)
    for k in range(min(n, T)):
        idx = np.minimum(t_idx + k, T - 1)
        in_range = (t_idx + k < T).reshape((T,) + (1,) * (rewards.ndim - 1))
        step_alive = alive & in_range
        ret += np.where(step_alive, discount * rewards[idx], 0.0)
        at_end = (t_idx + k == T - 1).reshape(in_range.shape) | (k == n - 1)
        stop = step_alive & ((done[idx] > 0) | at_end)
        boot = (1.0 - terminated[idx]) * next_values[idx]
        ret += np.where(stop, discount * gamma * boot, 0.0)
        alive = step_alive & ~stop
        discount = discount * gamma
    return ret


def gae(
    rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminated: np.ndarray, done: np.ndarray,
    gamma: float, lam: float,
) -> np.ndarray:
    """Generalized advantage estimation (Schulman et al. 2016):
    delta_t = r_t + gamma (1 - term_t) V(s'_t) - V(s_t);  A_t = delta_t + gamma lam (1 - done_t) A_{t+1}."""
    deltas = rewards + gamma * (1.0 - terminated) * next_values - values
    adv = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1:], dtype=rewards.dtype)
    for t in range(len(rewards) - 1, -1, -1):
        running = deltas[t] + gamma * lam * (1.0 - done[t]) * running
        adv[t] = running
    return adv


def explained_variance(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - Var(targets - values) / Var(targets): 1 when the critic predicts its targets exactly, 0 when
    it does no better than their mean, negative when worse (NaN for constant targets)."""
    return 1.0 - (targets - values).var() / targets.var()
