"""Action distributions of the policy-gradient algorithms, as small objects over the policy
head's output, so an algorithm asks its distribution to sample, to act greedily and to score
actions, and knows nothing of how the distribution is parameterized.

- `Categorical`: logits over discrete actions.
- `MultiCategorical`: MultiDiscrete(nvec) actions, one categorical per dim over the head's
  sum(nvec) logits (the factorized policy of e.g. OpenAI Five's and AlphaStar's action heads;
  Vinyals et al. 2019): log pi(a|s) = sum_i log pi_i(a_i|s), H = sum_i H_i.
- `Bernoulli`: MultiBinary(n) actions, one independent bit per logit, factorized the same way.
- `DiagGaussian`: the head gives the means; a learned, state-independent log-std per action dim.
- `StateDependentGaussian` (gSDE, Raffin et al. 2021; agent/gsde.py): the head's output holds the
  means, then the log-stds that the policy's features give; its noise matrices are drawn anew
  after each training (`after_training`), and sampling needs the features (the algorithm draws
  z(s) theta there).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from slm_lab.agent.masks import MASKED
from slm_lab.agent.policy import (
    categorical_log_prob_entropy,
    categorical_sample,
    gaussian_log_prob_entropy,
    gaussian_sample,
)

from slm_lab.env.protocol import BodySpaces

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


class MultiCategorical(ActionDistribution):
    """MultiDiscrete(nvec): independent categoricals over the head's sum(nvec) logits, dim i's
    `nvec[i]` logits in order; actions are [..., dims] integers.

    The logits are laid out once as [..., dims, max(nvec)], the short dims padded with a finite
    MASKED logit (probability 0, and 0 * log 0 stays 0 in the entropy), so sampling, scoring and
    the entropy are single batched ops over all dims: no loop per dim or per body."""

    def __init__(self, nvec: tuple[int, ...]) -> None:
        self.nvec = tuple(int(n) for n in nvec)
        width = max(self.nvec)
        starts = np.cumsum((0, *self.nvec[:-1]))
        # where each padded logit is read from in [out, MASKED]: column sum(nvec) is the pad
        index = np.full((len(self.nvec), width), sum(self.nvec), dtype=np.int64)
        for i, (start, n) in enumerate(zip(starts, self.nvec)):  # once, at construction
            index[i, :n] = start + np.arange(n)
        self.index = torch.from_numpy(index)
        self.equal = len(set(self.nvec)) == 1  # no padding needed: a reshape

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        """[..., sum(nvec)] -> [..., dims, max(nvec)]."""
        if self.equal:
            return out.unflatten(-1, (len(self.nvec), self.nvec[0]))
        if self.index.device != out.device:
            self.index = self.index.to(out.device)
        padded = torch.cat([out, out.new_full((*out.shape[:-1], 1), MASKED)], dim=-1)
        return padded[..., self.index]

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        logits = self.logits(out)
        return categorical_sample(logits.flatten(0, -2)).view(logits.shape[:-1])

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        return self.logits(out).argmax(-1)

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        log_prob, ent = categorical_log_prob_entropy(self.logits(out), actions, entropy)
        return log_prob.sum(-1), ent.sum(-1) if entropy else None


class Bernoulli(ActionDistribution):
    """MultiBinary(n): n independent bits, bit i on with probability sigmoid(logit i); actions are
    [..., n] integers 0 / 1. log pi(a|s) and H are the sums over the bits."""

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        return (torch.rand_like(out) < torch.sigmoid(out)).long()

    def greedy(self, out: torch.Tensor) -> torch.Tensor:
        return (out > 0).long()

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> LogProbEntropy:
        bits = actions.to(out.dtype)
        log_on, log_off = F.logsigmoid(out), F.logsigmoid(-out)
        log_prob = (bits * log_on + (1.0 - bits) * log_off).sum(-1)
        if not entropy:
            return log_prob, None
        return log_prob, -(log_on.exp() * log_on + log_off.exp() * log_off).sum(-1)


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


def make_distribution(spaces: BodySpaces, log_std: Callable[[], torch.Tensor]) -> ActionDistribution:
    """The distribution of a policy head for its bodies' action space (`log_std`: the Gaussian's parameter)."""
    kind = spaces.action_kind
    if kind == "multi_discrete":
        return MultiCategorical(spaces.action_nvec)
    if kind == "multi_binary":
        return Bernoulli()
    return Categorical() if kind == "discrete" else DiagGaussian(log_std)
