"""TD3: twin delayed deep deterministic policy gradient (Fujimoto et al. 2018, "Addressing Function
Approximation Error in Actor-Critic Methods"), and DDPG (Lillicrap et al. 2016, "Continuous
Control with Deep Reinforcement Learning") as its one-critic, undelayed, unsmoothed variant."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from slm_lab.agent.algorithm.base import TrainStats
from slm_lab.agent.algorithm.off_policy import OffPolicy
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import gradient_step
from slm_lab.agent.noise import ACTION_NOISES
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec


def smoothed_target_action(next_action: torch.Tensor, noise: torch.Tensor, noise_clip: float) -> torch.Tensor:
    """Target policy smoothing: a' = clip(mu'(s') + clip(eps, -c, c), -1, 1), in [-1, 1] action units."""
    return (next_action + noise.clamp(-noise_clip, noise_clip)).clamp(-1.0, 1.0)


def clipped_double_q_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = r + gamma (1 - terminated) min_i Q'_i(s', a'); `next_q` is [n_critics, N] (one critic: DDPG's target)."""
    return rewards + gamma * (1.0 - terminated) * next_q.min(0).values


class TD3(OffPolicy):
    """Deterministic actor mu(s) = tanh(net(s)) in [-1, 1] units, scaled to the env's Box bounds:

    critics: L(Q_i(s, a), y) for each critic, y from `clipped_double_q_target` at the smoothed
             target action `smoothed_target_action(mu'(s'), N(0, target_noise^2), target_noise_clip)`;
    actor:   -mean(Q_1(s, mu(s))), every `policy_delay` critic steps;
    targets: actor and critics Polyak-averaged (`net.update_type` / `net.polyak_coef`) with the actor step.

    Exploration adds `action_noise` (Gaussian or Ornstein-Uhlenbeck, `slm_lab/agent/noise.py`) to
    mu(s); uniformly random actions until `training_start_step` frames.
    """

    STATS = (*OffPolicy.STATS, "critic_loss", "actor_loss", "q_mean")
    SCHEDULES = ("action_noise_std",)  # the exploration noise's sigma
    N_CRITICS = 2

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        a, net_spec = spec.algorithm, spec.net
        if net_spec.type != "MLPNet":
            raise SpecError(f"{a.name} needs net.type MLPNet (its critics take concat(s, a)), not {net_spec.type}")
        net_cls, n_act = NETS[net_spec.type], spaces.action_dim
        self.obs_ndim = 1 if isinstance(spaces.obs_dim, int) else len(spaces.obs_dim)
        self.actor = net_cls(net_spec, spaces.obs_dim, [n_act])
        q_in = int(np.prod(spaces.obs_dim)) + n_act
        self.critics = nn.ModuleList(net_cls(net_spec, q_in, [1]) for _ in range(self.N_CRITICS))
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.nets = {"actor": self.actor, "critics": self.critics,
                     "target_actor": self.target_actor, "target_critics": self.target_critics}
        self._add_optimizer("actor", list(self.actor.parameters()), net_spec.optim_spec)
        self._add_optimizer("critics", list(self.critics.parameters()), net_spec.critic_optim_spec or net_spec.optim_spec)
        low, high = spaces.action_low, spaces.action_high
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise SpecError(f"{a.name} needs a bounded Box action space (its actor ends in tanh), not low={low} high={high}")
        self.action_center = ((high + low) / 2).astype(np.float32)
        self.action_scale = ((high - low) / 2).astype(np.float32)
        n = a.action_noise
        self.action_noise = ACTION_NOISES[n.name](n.sigma, (spaces.num_bodies, n_act), self.rng, theta=n.theta, dt=n.dt)
        self.last_actor_loss = torch.zeros(())

    # --- acting ---------------------------------------------------------------------------

    def mu(self, actor: nn.Module, states: torch.Tensor) -> torch.Tensor:
        return torch.tanh(actor(states))

    def to_env_units(self, unit_action: np.ndarray) -> np.ndarray:
        return self.action_center + self.action_scale * unit_action

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        if self.frame < self.algo_spec.training_start_step:
            unit = self.rng.uniform(-1.0, 1.0, (len(state), self.spaces.action_dim)).astype(np.float32)
        else:
            unit = self.mu(self.actor, self.as_tensor(state)).cpu().numpy()
            unit = np.clip(unit + self.action_noise.sample()[: len(state)], -1.0, 1.0)
        return self.to_env_units(unit)

    @torch.inference_mode()
    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.to_env_units(self.mu(self.actor, self.as_tensor(state)).cpu().numpy())

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int) -> None:
        self.action_noise.reset(np.logical_or(terminated, truncated))  # OU restarts with each episode
        super().update(state, action, reward, next_state, terminated, truncated, frame)

    def schedule_values(self) -> dict[str, float]:
        return {"action_noise_std": self.algo_spec.action_noise.sigma}

    # --- learning -------------------------------------------------------------------------

    def q_values(self, critics: nn.ModuleList, states: torch.Tensor, unit_actions: torch.Tensor) -> torch.Tensor:
        """[n_critics, N]: each critic at concat(flat s, a)."""
        x = torch.cat([states.flatten(-self.obs_ndim), unit_actions], dim=-1)
        return torch.stack([q(x).squeeze(-1) for q in critics])

    def target_action(self, next_states: torch.Tensor) -> torch.Tensor:
        next_action = self.mu(self.target_actor, next_states)
        a = self.algo_spec
        if a.target_noise == 0:
            return next_action
        noise = torch.randn_like(next_action) * a.target_noise
        return smoothed_target_action(next_action, noise, a.target_noise_clip)

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        clip = self.net_spec.clip_grad_val
        with torch.no_grad():
            next_q = self.q_values(self.target_critics, batch["next_states"], self.target_action(batch["next_states"]))
            y = clipped_double_q_target(batch["rewards"], batch["terminated"], next_q, self.gamma)
        center, scale = (torch.as_tensor(x, device=self.device) for x in (self.action_center, self.action_scale))
        q = self.q_values(self.critics, batch["states"], (batch["actions"] - center) / scale)
        critic_loss = self.loss_fn(q, y.expand_as(q))  # the mean of the critics' losses
        gradient_step(critic_loss, self.optims["critics"], list(self.critics.parameters()), clip, self.schedulers["critics"])
        if self.opt_step % self.algo_spec.policy_delay == 0:  # delayed policy updates (TD3 section 5.2)
            self.critics.requires_grad_(False)  # the actor step needs dQ/da, not the critics' weight grads
            actor_loss = -self.q_values(self.critics[:1], batch["states"], self.mu(self.actor, batch["states"])).mean()
            gradient_step(actor_loss, self.optims["actor"], list(self.actor.parameters()), clip, self.schedulers["actor"])
            self.critics.requires_grad_(True)
            # one call for both, so a `replace` target copies the actor and critics together
            self.sync_target(nn.ModuleList([self.target_actor, self.target_critics]), nn.ModuleList([self.actor, self.critics]))
            self.last_actor_loss = actor_loss.detach()
        # actor_loss is the latest actor step's loss, so steps between actor updates repeat it
        # (on the batch's device: after a resume the first steps may precede any actor step)
        actor_loss = self.last_actor_loss.to(critic_loss.device)
        return {"loss": critic_loss + actor_loss, "critic_loss": critic_loss, "actor_loss": actor_loss, "q_mean": q.mean()}


class DDPG(TD3):
    """DDPG: TD3 with one critic; its spec defaults have no target smoothing (target_noise 0) and
    no delay (policy_delay 1), so y = r + gamma (1 - terminated) Q'(s', mu'(s'))."""

    N_CRITICS = 1
