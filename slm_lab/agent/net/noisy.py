"""NoisyLinear: a linear layer with learned, factorized Gaussian parameter noise
(Fortunato et al. 2018, "Noisy Networks for Exploration").

    y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b,
    eps_w = f(eps_out) f(eps_in)^T,  eps_b = f(eps_out),  f(x) = sign(x) sqrt(|x|)

with eps_in ~ N(0, I_p), eps_out ~ N(0, I_q): p + q draws per layer instead of p * q. The net
learns how much noise each weight keeps, so exploration needs no epsilon schedule. In eval mode
(`module.eval()`) the layer is deterministic: y = mu_w x + mu_b.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class NoisyLinear(nn.Module):
    """Factorized-Gaussian noisy linear layer; `resample_noise()` draws fresh eps_in, eps_out.

    Init as in the paper's factorized variant: mu ~ U[-1/sqrt(p), 1/sqrt(p)], sigma = sigma0 / sqrt(p).
    The noise lives in non-persistent buffers: checkpoints hold only mu and sigma.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))
        self.register_buffer("eps_in", torch.zeros(in_features), persistent=False)
        self.register_buffer("eps_out", torch.zeros(out_features), persistent=False)
        self.resample_noise()

    @staticmethod
    def _scaled_noise(size: int, device: torch.device) -> torch.Tensor:
        x = torch.randn(size, device=device)
        return x.sign() * x.abs().sqrt()

    @torch.no_grad()
    def resample_noise(self) -> None:
        self.eps_in.copy_(self._scaled_noise(self.in_features, self.eps_in.device))
        self.eps_out.copy_(self._scaled_noise(self.out_features, self.eps_out.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return nn.functional.linear(x, self.weight_mu, self.bias_mu)
        weight = self.weight_mu + self.weight_sigma * torch.outer(self.eps_out, self.eps_in)
        return nn.functional.linear(x, weight, self.bias_mu + self.bias_sigma * self.eps_out)


def resample_noise(*nets: nn.Module) -> None:
    """Fresh noise for every NoisyLinear in `nets` (a no-op for nets without any)."""
    for net in nets:
        for module in net.modules():
            if isinstance(module, NoisyLinear):
                module.resample_noise()


def has_noise(net: nn.Module) -> bool:
    return any(isinstance(m, NoisyLinear) for m in net.modules())
