"""Generalized state-dependent exploration (gSDE) for Gaussian policies.

Raffin, Kober & Stulp 2021, "Smooth Exploration for Robotic Reinforcement Learning" (CoRL):
the exploration noise is a linear function of the policy's last hidden features z(s),

    a = mu(s) + z(s) theta,   theta ~ N(0, sigma^2) of shape [features, action_dim],

with theta drawn anew only every few steps, so consecutive actions get correlated noise
instead of white noise. Given theta, a is Gaussian around mu(s) with the state-dependent
variance sum_j z_j(s)^2 sigma_jk^2 (per action dim k); sigma = exp(log_std) is learned. As in
the paper's default, the features that scale the noise carry no gradient (only mu and sigma
learn from the noise term).
"""

from __future__ import annotations

import torch
from torch import nn

VAR_EPS = 1e-6  # keeps the std above 0 when every feature is 0 (e.g. dead ReLUs)


class StateDependentNoise(nn.Module):
    """The learned sigma matrix and the current noise matrices theta, one per body."""

    def __init__(self, feature_dim: int, action_dim: int, log_std_init: float) -> None:
        super().__init__()
        self.log_std = nn.Parameter(torch.full((feature_dim, action_dim), float(log_std_init)))
        self.theta: torch.Tensor | None = None  # [bodies, features, action_dim]; None: draw before the next action

    def resample(self, num_bodies: int) -> None:
        std = self.log_std.detach().exp()
        self.theta = torch.randn(num_bodies, *std.shape, device=std.device) * std

    def noise(self, features: torch.Tensor) -> torch.Tensor:
        """z(s) theta for each body: [bodies, features] -> [bodies, action_dim]."""
        return (features.unsqueeze(-2) @ self.theta).squeeze(-2)

    def action_log_std(self, features: torch.Tensor) -> torch.Tensor:
        """log of the action std given the features, [..., action_dim]: 0.5 log(z^2 @ sigma^2)."""
        var = features.detach().pow(2) @ (2 * self.log_std).exp()
        return 0.5 * (var + VAR_EPS).log()
