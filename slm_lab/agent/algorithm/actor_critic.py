"""A2C: synchronous advantage actor-critic (Mnih et al. 2016), n-step or GAE advantages."""

from __future__ import annotations

import numpy as np
import torch

from slm_lab.agent.algorithm.base import PolicyGradient, TrainStats
from slm_lab.agent.algorithm.returns import explained_variance, gae, nstep_returns
from slm_lab.agent.algorithm.value_norm import ValueNorm
from slm_lab.agent.distributions import StateDependentGaussian
from slm_lab.agent.gsde import StateDependentNoise
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import gradient_steps
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec


class A2C(PolicyGradient):
    """loss = -mean(log pi(a|s) A) - beta * mean(H) + c_v * L(V(s), V_target).

    A from GAE (`lam`) or n-step returns (`num_step_returns`; unset: the whole rollout).
    `net.shared`: one trunk with policy and value heads; else separate actor and critic nets.
    Trains on a batch rollout (OnPolicyBatchReplay) or on whole episodes (OnPolicyReplay).
    `algorithm.gsde`: state-dependent exploration noise (agent/gsde.py) for continuous actions.
    `algorithm.critic_input` "joint" / "state": a centralized critic V(x) on every agent's
    observation or the env's global state x, while the policy acts on the body's own
    (MAPPO, Yu et al. 2022); the AgentSpace hands x for s and s' to `update`, the memory keeps
    them as `critic_states` / `critic_next_states` beside the transition.
    `algorithm.value_norm`: the critic's output is on the scale of its targets' running mean
    and std (value_norm.py); values leave `policy_and_value` / `value` at their real scale
    and the value loss compares both on the normalized one.
    """

    STATS = (*PolicyGradient.STATS, "policy_loss", "value_loss", "explained_variance")

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        net_cls = NETS[spec.net.type]
        self.shared = spec.net.shared
        self.critic_input = getattr(spec.algorithm, "critic_input", "own")  # plugin algorithms may lack the key
        critic_dim = spaces.obs_dim
        if self.critic_input != "own":
            if self.shared or spaces.critic_dim is None or not hasattr(self.memory, "add_extras"):
                raise SpecError(f"algorithm.critic_input {self.critic_input!r} needs net.shared false, memory "
                                "OnPolicyBatchReplay and a PettingZoo parallel env that gives the critic inputs")
            critic_dim = spaces.critic_dim
        gsde = spec.algorithm.gsde
        if gsde is not None:
            if spaces.action_kind != "continuous":
                raise SpecError(f"algorithm.gsde needs continuous actions; {spec.algorithm.name} here has "
                              f"{spaces.action_kind.replace('_', ' ')} ones")
            if spec.net.type != "MLPNet":
                raise SpecError(f"algorithm.gsde needs net.type MLPNet, not {spec.net.type}")
            self.log_std_dim = 0  # the std comes from the features instead
        if self.shared:
            self.net = net_cls(spec.net, spaces.obs_dim, [spaces.policy_dim, 1], self.log_std_dim)
            self.nets = {"net": self.net}
        else:
            self.net = net_cls(spec.net, spaces.obs_dim, [spaces.policy_dim], self.log_std_dim)
            self.critic = net_cls(spec.net, critic_dim, [1])
            self.nets = {"net": self.net, "critic": self.critic}
        self.noise: StateDependentNoise | None = None  # gSDE's noise matrices, when algorithm.gsde
        if gsde is not None:  # a submodule of the actor: its optimizer, clip and checkpoints include sigma
            self.net.noise = StateDependentNoise(self.net.head.in_features, spaces.action_dim, gsde.log_std_init)
            self.noise = self.net.noise
            self.dist = StateDependentGaussian(self.noise, spaces.action_dim)
        self._add_optimizer("net", list(self.net.parameters()), spec.net.optim_spec)
        if not self.shared:
            self._add_optimizer("critic", list(self.critic.parameters()), spec.net.critic_optim_spec or spec.net.optim_spec)
        self.init_policy_head()
        # a submodule of the net with the value head: its checkpoints and device carry the statistics
        self.value_norm: ValueNorm | None = None
        if getattr(spec.algorithm, "value_norm", False):  # plugin algorithms may lack the key
            self.value_norm = ValueNorm()
            (self.net if self.shared else self.critic).value_norm = self.value_norm
        # parameter lists built once: step() runs once per gradient step
        self.net_params = list(self.net.parameters())
        self.critic_params = [] if self.shared else list(self.critic.parameters())

    def policy_net(self) -> torch.nn.Module:
        return self.net

    def gsde_policy(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gSDE's policy output (the means, then the log-stds the features give) and the raw net output."""
        features = self.net.features(states)
        out = self.net.head(features)
        return torch.cat([out[..., : self.spaces.action_dim], self.noise.action_log_std(features)], dim=-1), out

    def policy_out(self, states: torch.Tensor) -> torch.Tensor:
        if self.noise is not None:
            return self.gsde_policy(states)[0]
        out = self.net(states)
        return out[..., : self.spaces.policy_dim] if self.shared else out

    def policy_and_value(self, states: torch.Tensor, critic_states: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy output on `states` and V on `critic_states` (a centralized critic's
        inputs; None: the same states)."""
        critic_states = states if critic_states is None else critic_states
        if self.noise is not None:
            policy, out = self.gsde_policy(states)
            return policy, self.real_scale(out[..., -1] if self.shared else self.critic(critic_states).squeeze(-1))
        if self.shared:
            out = self.net(states)
            return out[..., : self.spaces.policy_dim], self.real_scale(out[..., -1])
        return self.net(states), self.real_scale(self.critic(critic_states).squeeze(-1))

    def real_scale(self, critic_out: torch.Tensor) -> torch.Tensor:
        """The value a critic output stands for (itself without value normalization)."""
        return critic_out if self.value_norm is None else self.value_norm.denormalize(critic_out)

    def critic_scale(self, *values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Values as the critic learns them: normalized by value_norm, else unchanged."""
        return values if self.value_norm is None else tuple(self.value_norm.normalize(v) for v in values)

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        if self.noise is None:
            return super().act(state)
        features = self.net.features(self.as_tensor(state))
        mean = self.net.head(features)[..., : self.spaces.action_dim]
        every = self.algo_spec.gsde.sample_freq
        theta = self.noise.theta
        if theta is None or theta.shape[0] != features.shape[0] or (every > 0 and self.env_steps % every == 0):
            self.noise.resample(features.shape[0])
        return (mean + self.noise.noise(features)).cpu().numpy()

    def value(self, states: torch.Tensor) -> torch.Tensor:
        return self.real_scale(self.net(states)[..., -1] if self.shared else self.critic(states).squeeze(-1))

    def next_state_values(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """V(s'_t) for every step of the rollout, [T, B] (a recurrent subclass runs it from each step's hidden state)."""
        return self.value(batch.get("critic_next_states", batch["next_states"]))

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int,
               critic: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Store one step; a centralized critic's inputs for s and s' (`critic`) go beside it."""
        if self.critic_input != "own":
            if critic is None:
                raise ValueError(f"critic_input {self.critic_input!r}: update() needs the critic inputs of s and s'")
            self.memory.add_extras(critic_states=critic[0], critic_next_states=critic[1])
        super().update(state, action, reward, next_state, terminated, truncated, frame)

    def advantages(self, batch: dict[str, torch.Tensor], values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, value targets), both [T, B]."""
        a = self.algo_spec
        with torch.no_grad():
            next_values = self.next_state_values(batch).cpu().numpy()
        # the recursions run in numpy over time: one copy off the device and one back per rollout
        rewards, term = batch["rewards"].cpu().numpy(), batch["terminated"].cpu().numpy()
        done = (batch["terminated"] + batch["truncated"]).clamp(max=1.0).cpu().numpy()
        v = values.detach().cpu().numpy()
        if a.lam is not None:
            adv = self.as_tensor(gae(rewards, v, next_values, term, done, self.gamma, a.lam))
            return adv, adv + values.detach()
        n = a.num_step_returns or len(rewards)
        targets = self.as_tensor(nstep_returns(rewards, next_values, term, done, self.gamma, n))
        return targets - values.detach(), targets

    def step(self, loss: torch.Tensor, clip: float | None) -> None:
        """One backward for both losses; each net keeps its own clip, optimizer and lr schedule."""
        names = ("net",) if self.shared else ("net", "critic")
        params = {"net": self.net_params, "critic": self.critic_params}
        gradient_steps(loss, [(self.optims[n], params[n], self.schedulers[n]) for n in names], clip)

    def train(self) -> TrainStats:
        batch = self.to_device(self.memory.sample())
        pout, values = self.policy_and_value(batch["states"], batch.get("critic_states"))
        adv, targets = self.advantages(batch, values)
        if self.algo_spec.normalize_advantage and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        log_prob, entropy = self.log_prob_entropy(pout, batch["actions"])
        policy_loss = -(log_prob * adv).mean() - self.entropy_coef.value(self.frame) * entropy.mean()
        ev = explained_variance(values.detach(), targets)  # at the values' real scale
        if self.value_norm is not None:  # the critic's own output against targets normalized with this batch seen
            values = self.value_norm.normalize(values)
            self.value_norm.update(targets)
            targets = self.value_norm.normalize(targets)
        value_loss = self.algo_spec.val_loss_coef * self.loss_fn(values, targets)
        loss = policy_loss + value_loss
        self.step(loss, self.net_spec.clip_grad_val)
        self.opt_step += 1
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach().mean(), "explained_variance": ev}
