"""SAC: soft actor-critic (Haarnoja et al. 2018), automatic entropy tuning (Haarnoja et al. 2018,
"Soft Actor-Critic Algorithms and Applications"), discrete actions (Christodoulou 2019)."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from slm_lab.agent.algorithm.base import TrainStats
from slm_lab.agent.algorithm.off_policy import OffPolicy
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import build_optimizer, gradient_step
from slm_lab.agent.policy import categorical_sample, tanh_gaussian_sample
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # keeps std in a range where tanh and exp stay finite


class LogAlpha(nn.Module):
    """The entropy temperature, learned as log alpha so alpha stays positive."""

    def __init__(self, init_alpha: float) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(math.log(init_alpha)))

    def alpha(self) -> torch.Tensor:
        return self.value.exp()


def soft_q_target(
    rewards: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, next_log_prob: torch.Tensor,
    alpha: torch.Tensor, gamma: float,
) -> torch.Tensor:
    """y = r + gamma (1 - terminated) (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(s').

    `next_q` is [2, N] (twin target critics at a sampled a'), or [2, N, A] with `next_log_prob`
    [N, A] for discrete actions, where the expectation over a' is taken exactly.
    """
    soft_v = next_q.min(0).values - alpha * next_log_prob
    if soft_v.dim() == rewards.dim() + 1:
        soft_v = (next_log_prob.exp() * soft_v).sum(-1)
    return rewards + gamma * (1.0 - terminated) * soft_v


def temperature_loss(log_alpha: torch.Tensor, entropy: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """J(alpha) = E[alpha (H(pi(.|s)) - H_target)], written on log alpha as the authors' code does:
    alpha falls while the policy's entropy is above the target and rises while below.
    `entropy` is -log pi(a|s) at sampled actions (continuous) or the exact entropy (discrete)."""
    return (log_alpha * (entropy - target_entropy).detach()).mean()


class SAC(OffPolicy):
    """Maximum-entropy actor-critic with twin critics, Polyak target critics and a learned temperature:

    critics: L(Q_i(s, a), y) for i = 1, 2, y from `soft_q_target`;
    policy:  mean(alpha log pi(a|s) - min_i Q_i(s, a)), a ~ pi(s) reparameterized (continuous),
             or mean(sum_a pi(a|s) (alpha log pi(a|s) - min_i Q_i(s, a))) (discrete);
    alpha:   `temperature_loss` toward `target_entropy` when `auto_entropy`, else fixed at `init_alpha`.

    Continuous actions: a tanh-squashed Gaussian scaled to the env's Box bounds; the critics
    see concat(s, a) with a in [-1, 1] units. Discrete actions: the critics output Q(s, .).
    Uniformly random actions until `training_start_step` frames; the target critics follow
    `net.update_type` (`polyak` with `net.polyak_coef` as tau, as in the paper, or `replace`).
    """

    STATS = (*OffPolicy.STATS, "critic_loss", "actor_loss", "alpha_loss", "alpha")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        a, net_spec, net_cls = spec.algorithm, spec.net, NETS[spec.net.type]
        self.discrete = spaces.is_discrete
        n_act = spaces.action_dim
        if self.discrete:
            self.policy = net_cls(net_spec, spaces.obs_dim, [n_act])
            self.critics = nn.ModuleList(net_cls(net_spec, spaces.obs_dim, [n_act]) for _ in range(2))
            default_target = 0.98 * math.log(n_act)  # Christodoulou 2019: 98% of the maximum entropy
        else:
            self.policy = net_cls(net_spec, spaces.obs_dim, [n_act, n_act])  # mean, log std
            if spec.net.type != "MLPNet":
                raise SpecError(f"SAC with continuous actions needs net.type MLPNet (its critics take concat(s, a)), not {spec.net.type}")
            self.obs_ndim = 1 if isinstance(spaces.obs_dim, int) else len(spaces.obs_dim)
            q_in = int(np.prod(spaces.obs_dim)) + n_act  # Q(s, a) on concat(flat s, a)
            self.critics = nn.ModuleList(net_cls(net_spec, q_in, [1]) for _ in range(2))
            default_target = -float(n_act)
            low, high = spaces.action_low, spaces.action_high
            bounded = np.isfinite(low) & np.isfinite(high)  # an unbounded dim keeps tanh's [-1, 1]
            self.action_center = np.where(bounded, (high + low) / 2, 0.0).astype(np.float32)
            self.action_scale = np.where(bounded, (high - low) / 2, 1.0).astype(np.float32)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = LogAlpha(a.init_alpha)
        self.target_entropy = a.target_entropy if a.target_entropy is not None else default_target
        self.nets = {"policy": self.policy, "critics": self.critics, "target_critics": self.target_critics, "log_alpha": self.log_alpha}
        self._add_optimizer("policy", list(self.policy.parameters()), net_spec.optim_spec)
        self._add_optimizer("critics", list(self.critics.parameters()), net_spec.critic_optim_spec or net_spec.optim_spec)
        if a.auto_entropy:
            self.optims["alpha"] = build_optimizer(net_spec.optim_spec, [self.log_alpha.value])
        self.policy_params = list(self.policy.parameters())
        self.critic_params = list(self.critics.parameters())

    # --- acting ---------------------------------------------------------------------------

    def policy_out(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous: (mean, clamped log std) of the Gaussian before tanh."""
        mean, log_std = self.policy(states).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def to_env_units(self, unit_action: torch.Tensor) -> np.ndarray:
        return self.action_center + self.action_scale * unit_action.cpu().numpy()

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        if self.frame < self.algo_spec.training_start_step:
            return self.random_action(len(state))
        states = self.as_tensor(state)
        if self.discrete:
            return categorical_sample(self.policy(states)).cpu().numpy()
        unit_action, _ = tanh_gaussian_sample(*self.policy_out(states))
        return self.to_env_units(unit_action)

    @torch.inference_mode()
    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        states = self.as_tensor(state)
        if self.discrete:
            return self.policy(states).argmax(-1).cpu().numpy()
        return self.to_env_units(torch.tanh(self.policy_out(states)[0]))

    def random_action(self, n: int) -> np.ndarray:
        if self.discrete:
            return self.rng.integers(0, self.spaces.action_dim, n)
        unit = self.rng.uniform(-1.0, 1.0, (n, self.spaces.action_dim)).astype(np.float32)
        return self.action_center + self.action_scale * unit

    # --- learning -------------------------------------------------------------------------

    def q_values(self, critics: nn.ModuleList, states: torch.Tensor, unit_actions: torch.Tensor | None = None) -> torch.Tensor:
        """Twin critics stacked: [2, N] at the given actions (continuous), [2, N, A] (discrete)."""
        if self.discrete:
            return torch.stack([q(states) for q in critics])
        x = torch.cat([states.flatten(-self.obs_ndim), unit_actions], dim=-1)
        return torch.stack([q(x).squeeze(-1) for q in critics])

    def critic_loss(self, batch: dict[str, torch.Tensor], alpha: torch.Tensor) -> torch.Tensor:
        states, next_states = batch["states"], batch["next_states"]
        with torch.no_grad():
            if self.discrete:
                next_log_prob = F.log_softmax(self.policy(next_states), dim=-1)
                next_q = self.q_values(self.target_critics, next_states)
            else:
                next_action, next_log_prob = tanh_gaussian_sample(*self.policy_out(next_states))
                next_q = self.q_values(self.target_critics, next_states, next_action)
            y = soft_q_target(batch["rewards"], batch["terminated"], next_q, next_log_prob, alpha, self.gamma)
        if self.discrete:
            index = batch["actions"].long().view(1, -1, 1).expand(2, -1, 1)
            q = self.q_values(self.critics, states).gather(-1, index).squeeze(-1)
        else:
            center, scale = (torch.as_tensor(x, device=self.device) for x in (self.action_center, self.action_scale))
            q = self.q_values(self.critics, states, (batch["actions"] - center) / scale)
        return self.loss_fn(q, y.expand_as(q))  # the mean of the two critics' losses

    def policy_loss(self, states: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(policy loss, entropy estimate per state)."""
        if self.discrete:
            log_prob = F.log_softmax(self.policy(states), dim=-1)
            prob = log_prob.exp()
            with torch.no_grad():  # the expectation over actions is exact: no gradient through Q needed
                q = self.q_values(self.critics, states).min(0).values
            loss = (prob * (alpha * log_prob - q)).sum(-1).mean()
            return loss, -(prob * log_prob).sum(-1)
        action, log_prob = tanh_gaussian_sample(*self.policy_out(states))
        q = self.q_values(self.critics, states, action).min(0).values
        return (alpha * log_prob - q).mean(), -log_prob

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        clip = self.net_spec.clip_grad_val
        alpha = self.log_alpha.alpha().detach()
        critic_loss = self.critic_loss(batch, alpha)
        gradient_step(critic_loss, self.optims["critics"], self.critic_params, clip, self.schedulers["critics"])
        self.critics.requires_grad_(False)  # the policy step needs dQ/da, not the critics' weight grads
        policy_loss, entropy = self.policy_loss(batch["states"], alpha)
        gradient_step(policy_loss, self.optims["policy"], self.policy_params, clip, self.schedulers["policy"])
        self.critics.requires_grad_(True)
        alpha_loss = temperature_loss(self.log_alpha.value, entropy, self.target_entropy)
        if self.algo_spec.auto_entropy:
            gradient_step(alpha_loss, self.optims["alpha"], [self.log_alpha.value], None)
        self.update_target()
        return {"loss": critic_loss + policy_loss, "critic_loss": critic_loss, "actor_loss": policy_loss,
                "alpha_loss": alpha_loss, "entropy": entropy.mean(), "alpha": alpha}

    def update_target(self) -> None:
        self.sync_target(self.target_critics, self.critics)

