"""CrossQ (Bhatt et al. 2024, "CrossQ: Batch Normalization in Deep Reinforcement Learning for
Greater Sample Efficiency and Simplicity"): SAC whose critics are batch-renormalized and have
no target networks; discrete actions as in discrete SAC (Christodoulou 2019)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from slm_lab.agent.algorithm.base import TrainStats
from slm_lab.agent.algorithm.sac import SAC, soft_q_target, temperature_loss
from slm_lab.agent.net.batch_renorm import BatchRenormMLP
from slm_lab.agent.net.builders import ACTIVATIONS, gradient_step
from slm_lab.agent.policy import tanh_gaussian_sample
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


class CrossQ(SAC):
    """SAC's actor and temperature with twin BatchRenorm critics (`BatchRenormMLP`), trained as:

    critics: one train-mode forward of each critic over concat([(s, a), (s', a')]) on the batch
             axis, a' ~ pi(s'), so the renorm statistics see both halves; then
             L(Q_i(s, a), y), y = `soft_q_target` on the detached second half (no target nets);
    policy and alpha: SAC's losses with the critics in eval mode (running statistics), every
             `policy_delay` critic steps.

    Discrete actions: the critics output Q(s, .) and the joint pass is over concat([s, s']).
    `critic_hid_layers` sets the critics' widths (paper: [2048, 2048]); net.* sets the actor.
    """

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        a = spec.algorithm
        if self.discrete:
            q_in, q_out = int(np.prod(spaces.obs_dim)), spaces.action_dim
        else:
            q_in, q_out = int(np.prod(spaces.obs_dim)) + spaces.action_dim, 1
        renorm = {"momentum": a.renorm_momentum, "r_max": a.renorm_r_max, "d_max": a.renorm_d_max,
                  "warmup_steps": a.renorm_warmup_steps}
        activation = ACTIVATIONS[spec.net.hid_layers_activation]
        self.critics = nn.ModuleList(BatchRenormMLP(q_in, a.critic_hid_layers, q_out, activation, **renorm) for _ in range(2))
        del self.target_critics  # CrossQ's point: none
        self.nets = {"policy": self.policy, "critics": self.critics, "log_alpha": self.log_alpha}
        self.critic_params = list(self.critics.parameters())
        self._add_optimizer("critics", self.critic_params, spec.net.critic_optim_spec or spec.net.optim_spec)
        self.last_actor_stats = {"actor_loss": torch.zeros(()), "alpha_loss": torch.zeros(()), "entropy": torch.zeros(())}

    def joint_q(self, batch: dict[str, torch.Tensor], next_actions: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q at the batch's (s, a), Q at (s', a')), from ONE train-mode forward per critic over both."""
        states, next_states = batch["states"], batch["next_states"]
        if self.discrete:
            q_all = self.q_values(self.critics, torch.cat([states, next_states]))  # [2, 2N, A]
        else:
            center, scale = (torch.as_tensor(x, device=self.device) for x in (self.action_center, self.action_scale))
            actions = torch.cat([(batch["actions"] - center) / scale, next_actions])
            q_all = self.q_values(self.critics, torch.cat([states, next_states]), actions)  # [2, 2N]
        q, next_q = q_all.split(len(states), dim=1)
        if self.discrete:
            index = batch["actions"].long().view(1, -1, 1).expand(2, -1, 1)
            q = q.gather(-1, index).squeeze(-1)
        return q, next_q

    def critic_loss(self, batch: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.discrete:
                next_actions, next_log_prob = None, F.log_softmax(self.policy(batch["next_states"]), dim=-1)
            else:
                next_actions, next_log_prob = tanh_gaussian_sample(*self.policy_out(batch["next_states"]))
        self.critics.train()
        q, next_q = self.joint_q(batch, next_actions)
        y = soft_q_target(batch["rewards"], batch["terminated"], next_q.detach(), next_log_prob, alpha, self.gamma)
        return self.loss_fn(q, y.expand_as(q))

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        clip = self.net_spec.clip_grad_val
        alpha = self.log_alpha.alpha().detach()
        critic_loss = self.critic_loss(batch, alpha)
        gradient_step(critic_loss, self.optims["critics"], self.critic_params, clip, self.schedulers["critics"])
        if self.opt_step % self.algo_spec.policy_delay == 0:
            self.critics.eval().requires_grad_(False)  # the actor reads Q through the running statistics
            policy_loss, entropy = self.policy_loss(batch["states"], alpha)
            gradient_step(policy_loss, self.optims["policy"], self.policy_params, clip, self.schedulers["policy"])
            self.critics.train().requires_grad_(True)
            alpha_loss = temperature_loss(self.log_alpha.value, entropy, self.target_entropy)
            if self.algo_spec.auto_entropy:
                gradient_step(alpha_loss, self.optims["alpha"], [self.log_alpha.value], None)
            self.last_actor_stats = {"actor_loss": policy_loss.detach(), "alpha_loss": alpha_loss.detach(),
                                     "entropy": entropy.mean().detach()}
        # between actor steps the actor's statistics repeat the latest ones
        # (on the batch's device: after a resume the first steps may precede any actor step)
        actor_stats = {k: v.to(critic_loss.device) for k, v in self.last_actor_stats.items()}
        return {"loss": critic_loss + actor_stats["actor_loss"], "critic_loss": critic_loss, "alpha": alpha, **actor_stats}

    def update_target(self) -> None:
        """No target networks."""
