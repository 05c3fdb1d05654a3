"""MLPNet: a multi-layer perceptron with one or more output heads."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from slm_lab.agent.net.builders import fc_layers, init_layers
from slm_lab.agent.net.noisy import NoisyLinear
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import MLPNetSpec


class DuelingHead(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a') (Wang et al. 2016, "Dueling Network Architectures").

    Separate value and advantage streams on the shared features; subtracting the mean
    advantage makes the split identifiable (V is the mean Q) without changing argmax Q.
    With `atoms` > 1 (distributional DQN) each stream outputs a vector per action and the
    rule applies atom by atom, as in Rainbow (Hessel et al. 2018); the output stays flat
    [..., num_actions * atoms].
    """

    def __init__(self, in_dim: int, num_actions: int, atoms: int = 1, noisy_sigma0: float | None = None) -> None:
        super().__init__()
        self.atoms = atoms
        self.value = linear_layer(in_dim, atoms, noisy_sigma0)
        self.advantage = linear_layer(in_dim, num_actions * atoms, noisy_sigma0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        adv = self.advantage(h)
        if self.atoms == 1:
            return self.value(h) + adv - adv.mean(-1, keepdim=True)
        adv = adv.unflatten(-1, (-1, self.atoms))
        q = self.value(h).unsqueeze(-2) + adv - adv.mean(-2, keepdim=True)
        return q.flatten(-2)


def linear_layer(in_dim: int, out_dim: int, noisy_sigma0: float | None = None) -> nn.Module:
    """nn.Linear, or a NoisyLinear with initial noise scale `noisy_sigma0` (noisy nets)."""
    return nn.Linear(in_dim, out_dim) if noisy_sigma0 is None else NoisyLinear(in_dim, out_dim, noisy_sigma0)


def build_head(in_dim: int, out_dims: Sequence[int], dueling: bool, atoms: int = 1,
               noisy_sigma0: float | None = None) -> nn.Module:
    """One linear layer for all heads, or a dueling Q head (one head only: Q-learning nets).
    `atoms` > 1: a distributional Q head ([actions, atoms] flattened); `noisy_sigma0`: noisy layers."""
    if dueling:
        if len(out_dims) != 1:
            raise SpecError(f"net.dueling needs a net with one Q head, not {len(out_dims)} heads")
        return DuelingHead(in_dim, out_dims[0], atoms, noisy_sigma0)
    return linear_layer(in_dim, sum(out_dims) * atoms, noisy_sigma0)


def obs_shape(in_dim: int | Sequence[int]) -> tuple[int, ...]:
    """A net's input: an int for flat observations, the full shape for stacked or image ones."""
    return (int(in_dim),) if isinstance(in_dim, int) else tuple(int(d) for d in in_dim)


class MLPNet(nn.Module):
    """Hidden layers from the spec, then one linear head per entry of `out_dims`.

    With several heads the output is a single tensor with the heads concatenated on the last
    axis: one matmul for policy and value together (fewer ops per gradient step).
    `log_std_dim` adds a state-independent log standard deviation for Gaussian policies.
    Stacked vector observations [k, d] (env.frame_stack) are flattened to k * d inputs.
    `atoms` > 1 makes a distributional Q head (C51, QR-DQN): out_dims[0] * atoms outputs;
    `net.noisy` makes the head's layers NoisyLinear (noisy nets).
    """

    def __init__(self, spec: MLPNetSpec, in_dim: int | Sequence[int], out_dims: list[int], log_std_dim: int = 0,
                 atoms: int = 1) -> None:
        super().__init__()
        shape = obs_shape(in_dim)
        if len(shape) > 2:
            raise SpecError(f"MLPNet takes vector observations, not images of shape {shape}: use net.type ConvNet")
        self.in_ndim = len(shape)
        self.body, dim = fc_layers(math.prod(shape), spec.hid_layers, spec.hid_layers_activation)
        self.out_dims = [d * atoms for d in out_dims]
        self.head = build_head(dim, out_dims, spec.dueling, atoms, spec.noisy_sigma0 if spec.noisy else None)
        init_layers(self, spec.init_fn, spec.hid_layers_activation)
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (what the heads read; gSDE scales its noise by them)."""
        if self.in_ndim > 1:
            x = x.flatten(-self.in_ndim)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
