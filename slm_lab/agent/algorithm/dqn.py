"""DQN (Mnih et al. 2015) and Double DQN (van Hasselt et al. 2016), with the Rainbow options
(Hessel et al. 2018): n-step returns, distributional heads (C51, QR-DQN), noisy nets; dueling
is a net option (net.dueling) and prioritized replay a memory (PrioritizedReplay)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from slm_lab.agent.algorithm.base import TrainStats, ValueBased
from slm_lab.agent.algorithm.distributional import build_distribution
from slm_lab.agent.algorithm.off_policy import OffPolicy
from slm_lab.agent.memory.nstep import NStepAccumulator
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import LOSSES, gradient_step
from slm_lab.agent.net.noisy import has_noise, resample_noise
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


def take(out: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """The output of each sample's action: [B, A] -> [B], or [B, A, atoms] -> [B, atoms]."""
    index = actions.long().reshape(*actions.shape, *([1] * (out.dim() - actions.dim())))
    return out.gather(actions.dim(), index.expand(*actions.shape, 1, *out.shape[actions.dim() + 1:])).squeeze(actions.dim())


class DQN(ValueBased, OffPolicy):
    """Q-learning with a replay memory and a target net:

    y = G + gamma^k * (1 - terminated) * max_a' Q_target(s', a');  loss = L(Q(s, a), y),
    with G = r, k = 1 by default, or the n-step return G of `algorithm.n_step` rewards (k <= n,
    fewer at an episode's end; the memory stores gamma^k as `discounts`).
    `algorithm.distributional` makes Q a distribution (C51 or QR-DQN, distributional.py): the
    target is that distribution's Bellman update at a' = argmax of its mean, the loss its own.
    The target net is replaced every `net.update_frequency` frames, or Polyak-averaged.
    """

    STATS = (*ValueBased.STATS, "q_mean")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        if not spaces.is_discrete:
            raise ValueError(f"{spec.algorithm.name} needs a discrete action space")
        self.dist = build_distribution(spec.algorithm.distributional)
        atoms = {"atoms": self.dist.atoms} if self.dist else {}
        self.net = NETS[spec.net.type](spec.net, spaces.obs_dim, [spaces.action_dim], **atoms)
        self.target_net = copy.deepcopy(self.net).requires_grad_(False)
        self.nets = {"net": self.net, "target_net": self.target_net}
        self.noisy = has_noise(self.net)
        self._add_optimizer("net", list(self.net.parameters()), spec.net.optim_spec)
        # per-sample losses: prioritized replay weights each by its importance-sampling weight
        self.sample_loss_fn = LOSSES[spec.net.loss_spec.name](reduction="none")

    def _build_memory(self):
        memory = super()._build_memory()
        if self.algo_spec.n_step > 1:  # the schema admits n_step > 1 only with Replay / PrioritizedReplay
            memory.nstep = NStepAccumulator(self.algo_spec.n_step, self.gamma)
        return memory

    def to(self, device: torch.device) -> DQN:
        super().to(device)
        if self.dist is not None:
            self.dist.to(self.device)
        return self

    def outputs(self, net: torch.nn.Module, states: torch.Tensor) -> torch.Tensor:
        """The net's output per action: Q values [..., A], or distributions [..., A, atoms]."""
        out = net(states)
        return out if self.dist is None else out.unflatten(-1, (self.spaces.action_dim, self.dist.atoms))

    def q_values(self, states: torch.Tensor, net: torch.nn.Module | None = None) -> torch.Tensor:
        """Q(s, .) of `net` (the online net by default): the mean of a distributional head."""
        out = self.outputs(net or self.net, states)
        return out if self.dist is None else self.dist.q(out)

    def next_q(self, next_states: torch.Tensor) -> torch.Tensor:
        """The target net's output at a' = argmax_a' Q_target(s', a'): [B] or [B, atoms]."""
        out = self.outputs(self.target_net, next_states)
        if self.dist is None:
            return out.max(-1).values
        return take(out, self.dist.q(out).argmax(-1))

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        if self.noisy:  # fresh noise for the online and target nets each gradient step
            resample_noise(self.net, self.target_net)
        with torch.no_grad():
            discounts = batch.get("discounts", self.gamma) * (1.0 - batch["terminated"])
            if self.dist is None:
                target = batch["rewards"] + discounts * self.next_q(batch["next_states"])
            else:
                target = self.dist.target(self.next_q(batch["next_states"]), batch["rewards"], discounts)
        out = take(self.outputs(self.net, batch["states"]), batch["actions"])
        if self.dist is None:
            losses = self.sample_loss_fn(out, target)
            priorities, q = (out - target).detach().abs(), out.detach()
        else:  # cross-entropy (C51) or quantile Huber (QR-DQN), per sample; PER ranks by it (Rainbow)
            losses = self.dist.loss(out, target)
            priorities, q = losses.detach(), self.dist.q(out.detach())
        if "weights" in batch:  # prioritized replay (Schaul et al. 2016): IS-weighted loss, new priorities
            loss = (batch["weights"] * losses).mean()
            self.memory.update_priorities(batch["idx"].cpu().numpy(), priorities.cpu().numpy())
        else:
            loss = losses.mean()
        gradient_step(loss, self.optims["net"], list(self.net.parameters()), self.net_spec.clip_grad_val, self.schedulers["net"])
        self.update_target()
        return {"loss": loss, "q_mean": q.mean()}

    def update_target(self) -> None:
        self.sync_target(self.target_net, self.net)

    # --- acting by (mean) Q; noisy nets explore through their own noise, with no epsilon ---

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        if not self.noisy:
            return super().act(state)
        resample_noise(self.net)
        return self.q_values(self.as_tensor(state)).argmax(-1).cpu().numpy()

    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        """Greedy by mean Q, with noisy layers in their deterministic (mean-weight) mode."""
        training = self.net.training
        self.net.train(False)
        try:
            return super().act_greedy(state)
        finally:
            self.net.train(training)


class DoubleDQN(DQN):
    """Double DQN: the online net picks a' and the target net values it,
    y = G + gamma^k * (1 - terminated) * Q_target(s', argmax_a' Q(s', a'))."""

    def next_q(self, next_states: torch.Tensor) -> torch.Tensor:
        best = self.q_values(next_states).argmax(-1)
        return take(self.outputs(self.target_net, next_states), best)
