"""A new algorithm as a plugin (docs/EXTENDING.md): DQN with a mellowmax target."""

import math

import torch
from pydantic import PositiveFloat

from slm_lab.agent.algorithm import DQN
from slm_lab.spec.schema import DQNSpec


class MellowSpec(DQNSpec):
    """DQN's keys plus the mellowmax temperature omega."""

    omega: PositiveFloat = 5.0


class MellowDQN(DQN):
    """DQN whose bootstrap target uses mellowmax instead of max (Asadi & Littman 2017,
    "An Alternative Softmax Operator for Reinforcement Learning"):
    mm_w(q) = log(mean_a exp(w q_a)) / w, which tends to max as w grows."""

    spec_model = MellowSpec

    def next_q(self, next_states: torch.Tensor) -> torch.Tensor:
        w = self.algo_spec.omega
        q = self.target_net(next_states)
        return (torch.logsumexp(w * q, dim=-1) - math.log(q.shape[-1])) / w
