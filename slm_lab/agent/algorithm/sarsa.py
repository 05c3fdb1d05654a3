"""SARSA (Rummery & Niranjan 1994): on-policy TD control with a Q net."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from slm_lab.agent.algorithm.base import TrainStats, ValueBased
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import gradient_step
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


class SARSA(ValueBased):
    """y_t = r_t + gamma * (1 - terminated_t) * Q(s'_t, a'_t);  loss = L(Q(s_t, a_t), y_t).

    a'_t is the action the behaviour policy (epsilon-greedy or Boltzmann over Q) took next:
    a_{t+1} of the same body in the time-major rollout [T, B]. Where that action is not the
    one taken at s'_t — the rollout's last step, or an episode that was truncated (the next
    stored action belongs to the reset state) — a'_t is drawn from the same policy at s'_t
    now. Terminated steps do not bootstrap; truncated ones do (Pardo et al. 2018).
    Learns from OnPolicyBatchReplay (a rollout of `training_frequency` steps) or
    OnPolicyReplay (whole episodes); one gradient step per batch, no target net.
    """

    STATS = (*ValueBased.STATS, "q_mean")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.net = NETS[spec.net.type](spec.net, spaces.obs_dim, [spaces.action_dim])
        self.nets = {"net": self.net}
        self._add_optimizer("net", list(self.net.parameters()), spec.net.optim_spec)

    def policy_sample(self, q: torch.Tensor) -> torch.Tensor:
        """Actions of the behaviour policy for a batch of Q rows, in torch (no numpy round trip)."""
        var = self.explore.value(self.frame)
        if self.algo_spec.action_policy == "boltzmann":
            probs = F.softmax(q / max(var, 1e-8), dim=-1)
            return torch.multinomial(probs.reshape(-1, q.shape[-1]), 1).reshape(q.shape[:-1])
        random = torch.randint(0, q.shape[-1], q.shape[:-1], device=q.device)
        return torch.where(torch.rand(q.shape[:-1], device=q.device) < var, random, q.argmax(-1))

    def next_actions(self, actions: torch.Tensor, done: torch.Tensor, next_q: torch.Tensor) -> torch.Tensor:
        """a'_t: the next stored action within an episode, else a fresh draw at s'_t. All [T, B]."""
        sampled = self.policy_sample(next_q)
        shifted = torch.cat([actions[1:], sampled[-1:]])
        taken_next = torch.ones_like(done, dtype=torch.bool)
        taken_next[-1] = False
        return torch.where(taken_next & (done == 0), shifted, sampled)

    def train(self) -> TrainStats:
        batch = self.to_device(self.memory.sample())
        actions = batch["actions"].long()
        done = (batch["terminated"] + batch["truncated"]).clamp(max=1.0)
        with torch.no_grad():
            next_q = self.net(batch["next_states"])
            a_next = self.next_actions(actions, done, next_q)
            q_next = next_q.gather(-1, a_next.unsqueeze(-1)).squeeze(-1)
            target = batch["rewards"] + self.gamma * (1.0 - batch["terminated"]) * q_next
        q = self.net(batch["states"]).gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        loss = self.loss_fn(q, target)
        gradient_step(loss, self.optims["net"], list(self.net.parameters()), self.net_spec.clip_grad_val, self.schedulers["net"])
        self.opt_step += 1
        return {"loss": loss.detach(), "q_mean": q.detach().mean()}
