"""Action distributions of the policy-gradient algorithms, as small objects over the policy
head's output, so an algorithm asks its distribution to sample, to act greedily and to score
actions, and knows nothing of how the distribution is parameterized.

- `Categorical`: logits over discrete actions.
- `DiagGaussian`: the head gives the means; a learned, state-independent log-std per action dim.
- `StateDependentGaussian` (gSDE, Raffin et al. 2021; agent/gsde.py): the head's output holds the
  means, then the log-stds that the policy's features give; its noise matrices are drawn anew
  after each training (`after_training`), and sampling needs the features (the algorithm draws
  z(s) theta there).
"""

from __future__ import annotations

from typing import Callable

import torch

from slm_lab.agent.policy import (
    categorical_log_prob_entropy,
    categorical_sample,
    gaussian_log_prob_entropy,
    gaussian_sample,
)

LogProbEntropy = tuple[torch.Tensor, torch.Tensor | None]


class ActionDistribution:
    """What a policy head's output means."""

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        """log pi(a|s) and the entropy; `entropy=False` skips the entropy (None) when nothing needs it."""
        raise NotImplementedError

    def after_training(self) -> None:
        """Called after each training step (gSDE draws new noise for the next rollout)."""


class Categorical(ActionDistribution):
    def sample(self, out: torch.Tensor) -> torch.Tensor:
        return categorical_sample(out)

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        return out.argmax(-1)

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        return categorical_log_prob_entropy(out, actions, entropy)


class DiagGaussian(ActionDistribution):
    """`log_std()` gives the net's learned log-std parameter (looked up at each call: checkpoints
    load into the same parameter)."""

    def __init__(self, log_std: Callable[[], torch.Tensor]) -> None:
        self.log_std = log_std

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        return gaussian_sample(out, self.log_std())

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        return gaussian_log_prob_entropy(out, self.log_std(), actions)


class StateDependentGaussian(ActionDistribution):
    """gSDE: `out` is [means, state-dependent log-stds], each `action_dim` wide."""

    def __init__(self, noise: torch.nn.Module, action_dim: int) -> None:
        self.noise, self.action_dim = noise, action_dim

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("gSDE samples from the policy's features: the algorithm draws mean + z(s) theta")

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        return out[..., : self.action_dim]

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        mean, log_std = out.split(self.action_dim, dim=-1)
        return gaussian_log_prob_entropy(mean, log_std, actions)

    def after_training(self) -> None:
        self.noise.theta = None  # the next rollout explores with fresh noise matrices
