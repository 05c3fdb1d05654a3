"""DQN (Mnih et al. 2015) and Double DQN (van Hasselt et al. 2016)."""

from __future__ import annotations

import copy

import torch

from slm_lab.agent.algorithm.base import TrainStats, ValueBased
from slm_lab.agent.algorithm.off_policy import OffPolicy
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import LOSSES, gradient_step
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


class DQN(ValueBased, OffPolicy):
    """Q-learning with a replay memory and a target net:

    y = r + gamma * (1 - terminated) * max_a' Q_target(s', a');  loss = L(Q(s, a), y).
    The target net is replaced every `net.update_frequency` frames, or Polyak-averaged.
    """

    STATS = (*ValueBased.STATS, "q_mean")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        if not spaces.is_discrete:
            raise ValueError(f"{spec.algorithm.name} needs a discrete action space")
        self.net = NETS[spec.net.type](spec.net, spaces.obs_dim, [spaces.action_dim])
        self.target_net = copy.deepcopy(self.net).requires_grad_(False)
        self.nets = {"net": self.net, "target_net": self.target_net}
        self._add_optimizer("net", list(self.net.parameters()), spec.net.optim_spec)
        # per-sample losses: prioritized replay weights each by its importance-sampling weight
        self.sample_loss_fn = LOSSES[spec.net.loss_spec.name](reduction="none")

    def next_q(self, next_states: torch.Tensor) -> torch.Tensor:
        """max_a' Q_target(s', a')."""
        return self.target_net(next_states).max(-1).values

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        with torch.no_grad():
            target = batch["rewards"] + self.gamma * (1.0 - batch["terminated"]) * self.next_q(batch["next_states"])
        q = self.net(batch["states"]).gather(-1, batch["actions"].long().unsqueeze(-1)).squeeze(-1)
        losses = self.sample_loss_fn(q, target)
        if "weights" in batch:  # prioritized replay (Schaul et al. 2016): IS-weighted loss, new |TD| priorities
            loss = (batch["weights"] * losses).mean()
            self.memory.update_priorities(batch["idx"].cpu().numpy(), (q - target).detach().abs().cpu().numpy())
        else:
            loss = losses.mean()
        gradient_step(loss, self.optims["net"], list(self.net.parameters()), self.net_spec.clip_grad_val, self.schedulers["net"])
        self.update_target()
        return {"loss": loss, "q_mean": q.detach().mean()}

    def update_target(self) -> None:
        self.sync_target(self.target_net, self.net)



class DoubleDQN(DQN):
    """Double DQN: the online net picks a' and the target net values it,
    y = r + gamma * (1 - terminated) * Q_target(s', argmax_a' Q(s', a'))."""

    def next_q(self, next_states: torch.Tensor) -> torch.Tensor:
        best = self.net(next_states).argmax(-1, keepdim=True)
        return self.target_net(next_states).gather(-1, best).squeeze(-1)
