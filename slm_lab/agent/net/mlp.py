"""MLPNet: a multi-layer perceptron with one or more output heads."""

from __future__ import annotations

import torch
from torch import nn

from slm_lab.agent.net.builders import ACTIVATIONS, init_layers
from slm_lab.spec.schema import MLPNetSpec


class MLPNet(nn.Module):
    """Hidden layers from the spec, then one linear head per entry of `out_dims`.

    With several heads the output is a single tensor with the heads concatenated on the last
    axis: one matmul for policy and value together (fewer ops per gradient step).
    `log_std_dim` adds a state-independent log standard deviation for Gaussian policies.
    """

    def __init__(self, spec: MLPNetSpec, in_dim: int, out_dims: list[int], log_std_dim: int = 0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        dim = in_dim
        for hid in spec.hid_layers:
            layers += [nn.Linear(dim, hid), ACTIVATIONS[spec.hid_layers_activation]()]
            dim = hid
        self.body = nn.Sequential(*layers)
        self.out_dims = list(out_dims)
        self.head = nn.Linear(dim, sum(out_dims))
        init_layers(self, spec.init_fn, spec.hid_layers_activation)
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def split(self, out: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(out, self.out_dims, dim=-1))
