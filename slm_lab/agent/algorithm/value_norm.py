"""Value normalization: the critic learns value targets scaled to zero mean and unit variance.

The running statistics are debiased exponential moving averages of the targets' mean and
mean square, as in MAPPO (Yu et al. 2022, "The Surprising Effectiveness of PPO in Cooperative
Multi-Agent Games", its "value normalization"), the statistics part of PopArt (van Hasselt
et al. 2016, "Learning values across many orders of magnitude") without its output rescaling:

    m  <- b m  + (1 - b) mean(y),    q <- b q + (1 - b) mean(y^2),    d <- b d + (1 - b)
    mu =  m / d,    sigma^2 = max(q / d - mu^2, VAR_MIN)

A critic's raw output v is on the normalized scale: the value is mu + sigma v, and its loss
compares v with (y - mu) / sigma. The statistics are buffers of the module, so they travel
with the net that owns them (its checkpoint, its device).
"""

from __future__ import annotations

import torch

BETA = 0.99999  # MAPPO's: close to an equal-weight mean of every target seen so far
VAR_MIN = 1e-2  # a floor on sigma^2: early, near-constant targets must not blow the scale up
EPS = 1e-5  # a floor on d, MAPPO's (d is 1 - b = 1e-5 after the first batch)


class ValueNorm(torch.nn.Module):
    def __init__(self, beta: float = BETA) -> None:
        super().__init__()
        self.beta = beta
        self.register_buffer("running_mean", torch.zeros(()))
        self.register_buffer("running_mean_sq", torch.zeros(()))
        self.register_buffer("debiasing_term", torch.zeros(()))

    @torch.no_grad()
    def update(self, targets: torch.Tensor) -> None:
        """Fold one batch of value targets into the statistics."""
        y = targets.detach().to(self.running_mean.dtype)
        b = self.beta
        self.running_mean.mul_(b).add_((1 - b) * y.mean())
        self.running_mean_sq.mul_(b).add_((1 - b) * y.square().mean())
        self.debiasing_term.mul_(b).add_(1 - b)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, sigma); (0, 1) before the first batch, so an untrained critic's scale is its own."""
        seen = self.debiasing_term > 0  # a tensor, not a bool: no device sync per call
        d = self.debiasing_term.clamp(min=EPS)
        mean = torch.where(seen, self.running_mean / d, 0.0)
        var = torch.where(seen, (self.running_mean_sq / d - mean.square()).clamp(min=VAR_MIN), 1.0)
        return mean, var.sqrt()

    def normalize(self, values: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return (values - mean) / std

    def denormalize(self, values: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return values * std + mean
