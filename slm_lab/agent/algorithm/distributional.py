"""Distributional Q heads for the DQN family: what a net's [actions, atoms] output means,
the Bellman target of a distribution and the per-sample loss against it.

- Categorical (C51; Bellemare, Dabney & Munos 2017, "A Distributional Perspective on RL"):
  Z(s, a) is a softmax over fixed atoms z_i = v_min + i * dz. The target r + gamma^k z_j of
  each next atom is clipped to [v_min, v_max] and its probability split between the two
  nearest atoms (the projection Phi); the loss is the cross-entropy -sum_i m_i log p_i(s, a).
- Quantile (QR-DQN; Dabney, Rowland, Bellemare & Munos 2018, "Distributional RL with Quantile
  Regression"): Z(s, a) is N quantile values theta_i at midpoints tau_i = (2i + 1) / 2N; the
  loss is the quantile Huber loss sum_i mean_j |tau_i - 1{u_ij < 0}| L_kappa(u_ij) / kappa with
  u_ij = T theta_j - theta_i.
Both act by the mean Q(s, a) = E[Z(s, a)].
"""

from __future__ import annotations

import torch

from slm_lab.spec.schema import CategoricalSpec, QuantileSpec


def categorical_projection(next_probs: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Phi (r + discount * z): next_probs [B, N] on `support` [N] (evenly spaced), rewards and
    discounts [B] (discount = gamma^k (1 - terminated)); returns the target probabilities [B, N]."""
    v_min, v_max = support[0], support[-1]
    delta_z = (v_max - v_min) / (len(support) - 1)
    target_z = (rewards.unsqueeze(-1) + discounts.unsqueeze(-1) * support).clamp(v_min, v_max)
    b = ((target_z - v_min) / delta_z).clamp(0, len(support) - 1)  # fractional atom index (rounding kept in range)
    lower, upper = b.floor().long(), b.ceil().long()
    # a target landing exactly on an atom (lower == upper) gives it all its mass
    lower_mass = next_probs * (upper.float() - b + (lower == upper).float())
    upper_mass = next_probs * (b - lower.float())
    target = torch.zeros_like(next_probs)
    target.scatter_add_(-1, lower, lower_mass)
    target.scatter_add_(-1, upper, upper_mass)
    return target


def quantile_huber_loss(quantiles: torch.Tensor, target: torch.Tensor, kappa: float) -> torch.Tensor:
    """Per-sample quantile Huber loss [B] of predicted quantiles [B, N] against target samples [B, M]."""
    n = quantiles.shape[-1]
    taus = (torch.arange(n, device=quantiles.device, dtype=quantiles.dtype) + 0.5) / n
    u = target.unsqueeze(-2) - quantiles.unsqueeze(-1)  # [B, N, M]: u_ij = T theta_j - theta_i
    huber = torch.where(u.abs() <= kappa, 0.5 * u.pow(2), kappa * (u.abs() - 0.5 * kappa))
    weight = (taus.unsqueeze(-1) - (u.detach() < 0).to(u.dtype)).abs()
    return (weight * huber / kappa).mean(-1).sum(-1)


class Categorical:
    """C51's head: logits [..., A, N] over the atoms; `target` is the projected distribution."""

    def __init__(self, spec: CategoricalSpec) -> None:
        self.atoms = spec.num_atoms
        self.support = torch.linspace(spec.v_min, spec.v_max, spec.num_atoms)

    def to(self, device: torch.device) -> None:
        self.support = self.support.to(device)

    def q(self, out: torch.Tensor) -> torch.Tensor:
        return (out.softmax(-1) * self.support).sum(-1)

    def target(self, next_out: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor:
        return categorical_projection(next_out.softmax(-1), rewards, discounts, self.support)

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the predicted logits [B, N] against the target probabilities, per sample."""
        return -(target * out.log_softmax(-1)).sum(-1)


class Quantile:
    """QR-DQN's head: quantile values [..., A, N]; `target` is r + discount * theta(s', a*)."""

    def __init__(self, spec: QuantileSpec) -> None:
        self.atoms = spec.num_quantiles
        self.kappa = spec.kappa

    def to(self, device: torch.device) -> None:
        pass

    def q(self, out: torch.Tensor) -> torch.Tensor:
        return out.mean(-1)

    def target(self, next_out: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor) -> torch.Tensor:
        return rewards.unsqueeze(-1) + discounts.unsqueeze(-1) * next_out

    def loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return quantile_huber_loss(out, target, self.kappa)


DISTRIBUTIONS = {"categorical": Categorical, "quantile": Quantile}


def build_distribution(spec: CategoricalSpec | QuantileSpec | None) -> Categorical | Quantile | None:
    return None if spec is None else DISTRIBUTIONS[spec.type](spec)
