"""Action distributions and exploration, written as plain tensor ops.

No torch.distributions objects on the hot path: log_softmax + gather for discrete actions,
the closed-form Gaussian log-density for continuous ones.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from slm_lab.agent import masks
from slm_lab.spec.schema import ScheduleSpec

LOG_2PI = math.log(2 * math.pi)


class Schedule:
    """A value that changes with frames: `no_decay`, `linear_decay` or `rate_decay` (geometric)."""

    def __init__(self, spec: ScheduleSpec | None, default: float = 0.0) -> None:
        self.spec = spec
        self.default = default

    def value(self, frame: int) -> float:
        s = self.spec
        if s is None:
            return self.default
        if s.name == "no_decay" or s.end_val is None:
            return s.start_val
        fraction = min(max((frame - s.start_step) / (s.end_step - s.start_step), 0.0), 1.0)
        if s.name == "linear_decay":
            return s.start_val + (s.end_val - s.start_val) * fraction
        # rate_decay: geometric interpolation, for values spanning orders of magnitude
        return s.start_val * (s.end_val / s.start_val) ** fraction


# --- discrete -----------------------------------------------------------------------------


def categorical_sample(logits: torch.Tensor) -> torch.Tensor:
    return torch.multinomial(F.softmax(logits, dim=-1), 1).squeeze(-1)


def categorical_log_prob_entropy(
    logits: torch.Tensor, actions: torch.Tensor, entropy: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    log_p = F.log_softmax(logits, dim=-1)
    log_prob = log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    return log_prob, -(log_p.exp() * log_p).sum(-1) if entropy else None


def epsilon_greedy(q: torch.Tensor | Callable[[], torch.Tensor], epsilon: float, rng: np.random.Generator,
                   num_bodies: int | None = None, num_actions: int | None = None) -> np.ndarray:
    """Greedy on q, each body independently random with probability epsilon.

    `q` may be a function computing it, with `num_bodies` and `num_actions` given: when every
    body explores it is not called, so acting while epsilon is near 1 costs no forward pass
    (DQN's first steps are mostly random). The generator's draws are the same either way, so
    are the actions."""
    if callable(q):
        explore = rng.random(num_bodies) < epsilon
        if explore.all():
            return rng.integers(0, num_actions, num_bodies)
        q = q()
    else:
        explore = rng.random(len(q)) < epsilon
    greedy = q.argmax(-1).cpu().numpy()
    if explore.any():
        if masks.is_masked(q):  # an env with action masks: explore among the legal actions only
            greedy[explore] = masks.random_legal(q[torch.from_numpy(explore)], rng)
        else:
            greedy[explore] = rng.integers(0, q.shape[-1], int(explore.sum()))
    return greedy


def boltzmann(q: torch.Tensor, tau: float) -> np.ndarray:
    """Sample from softmax(q / tau): high temperature explores, low exploits."""
    return categorical_sample(q / max(tau, 1e-8)).cpu().numpy()


# --- continuous ---------------------------------------------------------------------------


def gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    return mean + log_std.exp() * torch.randn_like(mean)


def gaussian_log_prob_entropy(
    mean: torch.Tensor, log_std: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Diagonal Gaussian: log N(a; mean, std) summed over action dims, and its entropy."""
    var = (2 * log_std).exp()
    log_prob = (-((actions - mean) ** 2) / (2 * var) - log_std - 0.5 * LOG_2PI).sum(-1)
    entropy = (0.5 + 0.5 * LOG_2PI + log_std).sum(-1).expand(mean.shape[:-1])
    return log_prob, entropy


def tanh_gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterized a = tanh(u), u ~ N(mean, std), and log pi(a) summed over action dims.

    Change of variables (Haarnoja et al. 2018, appendix C): log pi(a) = log N(u) - sum log(1 - tanh(u)^2),
    with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), exact and stable for large |u|.
    """
    noise = torch.randn_like(mean)
    u = mean + log_std.exp() * noise
    log_prob = (-0.5 * noise.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)
    log_prob = log_prob - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), log_prob
