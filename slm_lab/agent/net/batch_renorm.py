"""Batch renormalization (Ioffe 2017, "Batch Renormalization: Towards Reducing Minibatch
Dependence in Batch-Normalized Models") and the batch-renormalized critic MLP of CrossQ
(Bhatt et al. 2024)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class BatchRenorm1d(nn.Module):
    """Normalizes features over the batch, corrected toward the running statistics:

    train: x_hat = (x - mu_B) / sigma_B * r + d,  r = clip(sigma_B / sigma, 1/r_max, r_max),
           d = clip((mu_B - mu) / sigma, -d_max, d_max), r and d without gradient;
           then mu += momentum (mu_B - mu), var += momentum (var_B - var);
    eval:  x_hat = (x - mu) / sigma;
    out:   weight * x_hat + bias.

    sigma = sqrt(var + eps) and sigma_B = sqrt(var_B + eps), var_B the biased batch variance.
    During the first `warmup_steps` training batches r = 1 and d = 0 (plain batch norm), as the
    CrossQ authors do, while the running statistics are still far from the data's.
    """

    def __init__(self, num_features: int, momentum: float = 0.01, eps: float = 1e-3,
                 r_max: float = 3.0, d_max: float = 5.0, warmup_steps: int = 100_000) -> None:
        super().__init__()
        self.momentum, self.eps, self.r_max, self.d_max, self.warmup_steps = momentum, eps, r_max, d_max, warmup_steps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # training batches seen (checkpointed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sigma = (self.running_var + self.eps).sqrt()
        if not self.training:
            return self.weight * (x - self.running_mean) / sigma + self.bias
        mean, var = x.mean(0), x.var(0, unbiased=False)
        sigma_b = (var + self.eps).sqrt()
        x_hat = (x - mean) / sigma_b
        if self.steps >= self.warmup_steps:
            with torch.no_grad():
                r = (sigma_b / sigma).clamp(1 / self.r_max, self.r_max)
                d = ((mean - self.running_mean) / sigma).clamp(-self.d_max, self.d_max)
            x_hat = x_hat * r + d
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.steps += 1
        return self.weight * x_hat + self.bias


class BatchRenormMLP(nn.Module):
    """CrossQ's critic: BatchRenorm on the input, then per hidden layer Linear -> activation ->
    BatchRenorm, then a linear head. In train mode one forward must hold every batch whose
    statistics should be shared (CrossQ passes (s, a) and (s', a') together)."""

    def __init__(self, in_dim: int, hid_layers: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU,
                 **renorm: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [BatchRenorm1d(in_dim, **renorm)]
        dim = in_dim
        for hid in hid_layers:
            layers += [nn.Linear(dim, hid), activation(), BatchRenorm1d(hid, **renorm)]
            dim = hid
        layers.append(nn.Linear(dim, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
