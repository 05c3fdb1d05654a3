"""PPO (Schulman et al. 2017): the clipped surrogate objective over minibatch epochs."""

from __future__ import annotations

from typing import Iterator

import torch

from slm_lab.agent.algorithm.actor_critic import A2C
from slm_lab.agent.algorithm.base import TrainStats
from slm_lab.agent.algorithm.returns import explained_variance
from slm_lab.agent.policy import Schedule
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


def clipped_surrogate(log_prob: torch.Tensor, old_log_prob: torch.Tensor, adv: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """L^CLIP = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)),  rho = pi(a|s) / pi_old(a|s)."""
    ratio = (log_prob - old_log_prob).exp()
    return -torch.min(ratio * adv, ratio.clamp(1.0 - clip_eps, 1.0 + clip_eps) * adv).mean()


def clipped_value_loss(values: torch.Tensor, old_values: torch.Tensor, targets: torch.Tensor, clip_eps: float) -> torch.Tensor:
    """mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2)): the value moves at most eps per update."""
    clipped = old_values + (values - old_values).clamp(-clip_eps, clip_eps)
    return torch.max((values - targets) ** 2, (clipped - targets) ** 2).mean()


class PPO(A2C):
    """loss = L^CLIP - beta * mean(H[pi]) + c_v * L_V, over `training_epoch` passes of shuffled minibatches.

    Each rollout (OnPolicyBatchReplay, [T, B]) is scored once before the epochs: old
    log-probs, values and GAE advantages / value targets (A2C's estimators). The epochs then
    index minibatches of `minibatch_size` from those flat tensors. Advantages are standardized
    per minibatch when `normalize_advantage`. The clip range follows `clip_eps_spec` (a
    schedule in frames, e.g. linear to 0); `clip_vloss` clips the value update the same way.
    Nets as in A2C: `net.shared` heads on one trunk (one forward), or separate actor/critic.
    """

    STATS = (*A2C.STATS, "approx_kl", "clip_fraction")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.clip_eps = Schedule(spec.algorithm.clip_eps_spec)

    @torch.no_grad()
    def score_rollout(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Flat [T * B] tensors of what the epochs reuse: states, actions, old log-probs, values, A, targets."""
        pout, values = self.policy_and_value(batch["states"], batch.get("critic_states"))
        old_log_prob, entropy = self.log_prob_entropy(pout, batch["actions"])
        self.rollout_entropy = entropy.mean()
        adv, targets = self.advantages(batch, values)
        flat = {
            "states": batch["states"], "actions": batch["actions"], "old_log_prob": old_log_prob,
            "old_values": values, "adv": adv, "targets": targets,
        }
        if "critic_states" in batch:  # a centralized critic's inputs (algorithm.critic_input)
            flat["critic_states"] = batch["critic_states"]
        return {k: v.flatten(0, 1) for k, v in flat.items()}

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """One epoch's shuffled minibatches of `minibatch_size` samples. One minibatch holding the
        whole rollout skips the shuffle and the gathers: its order cannot change the mean loss
        (e.g. the zoo's CartPole: 256 frames, minibatch 256)."""
        n = data["adv"].shape[0]
        if self.algo_spec.minibatch_size >= n:
            yield data
            return
        for idx in torch.randperm(n, device=self.device).split(self.algo_spec.minibatch_size):
            yield {k: v[idx] for k, v in data.items()}

    def minibatch_policy_and_value(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The current policy output and values on a minibatch (a recurrent subclass unrolls its sequences)."""
        return self.policy_and_value(mb["states"], mb.get("critic_states"))

    def train(self) -> TrainStats:
        a = self.algo_spec
        data = self.score_rollout(self.to_device(self.memory.sample()))
        if self.value_norm is not None:  # once per rollout, before its epochs (MAPPO)
            self.value_norm.update(data["targets"])
        clip_eps = self.clip_eps.value(self.frame)
        beta = self.entropy_coef.value(self.frame)
        clip = self.net_spec.clip_grad_val
        sums = dict.fromkeys(("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"), torch.zeros(()))
        steps = 0
        for _ in range(a.training_epoch):
            for mb in self.minibatches(data):
                adv = mb["adv"]
                if a.normalize_advantage and adv.numel() > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pout, values = self.minibatch_policy_and_value(mb)
                if beta != 0.0:
                    log_prob, entropy = self.log_prob_entropy(pout, mb["actions"])
                    policy_loss = clipped_surrogate(log_prob, mb["old_log_prob"], adv, clip_eps) - beta * entropy.mean()
                    sums["entropy"] = sums["entropy"] + entropy.detach().mean()
                else:  # no entropy term: keep its ops out of the graph (logged from the rollout's scoring)
                    log_prob = self.log_prob_entropy(pout, mb["actions"], entropy=False)[0]
                    policy_loss = clipped_surrogate(log_prob, mb["old_log_prob"], adv, clip_eps)
                values, old_values, targets = self.critic_scale(values, mb["old_values"], mb["targets"])
                if a.clip_vloss:
                    value_loss = clipped_value_loss(values, old_values, targets, clip_eps)
                else:
                    value_loss = self.loss_fn(values, targets)
                value_loss = a.val_loss_coef * value_loss
                self.step(policy_loss + value_loss, clip)
                self.opt_step += 1
                steps += 1
                with torch.no_grad():
                    log_ratio = log_prob - mb["old_log_prob"]
                    # KL(pi_old || pi) by the unbiased, always positive estimator E[(rho - 1) - log rho]
                    approx_kl = (log_ratio.exp() - 1.0 - log_ratio).mean()
                    clip_fraction = ((log_ratio.exp() - 1.0).abs() > clip_eps).float().mean()
                for name, value in (("loss", policy_loss + value_loss), ("policy_loss", policy_loss),
                                    ("value_loss", value_loss), ("approx_kl", approx_kl), ("clip_fraction", clip_fraction)):
                    sums[name] = sums[name] + value.detach()
        stats = {k: v / steps for k, v in sums.items()}
        if beta == 0.0:  # no entropy term in the loss: the rollout's entropy, from its scoring
            stats["entropy"] = self.rollout_entropy
        stats["explained_variance"] = explained_variance(data["old_values"], data["targets"])
        return stats
