"""Algorithm base: the shared loop of act -> store -> maybe train, and checkpoint plumbing.

Subclasses define only what differs: how to act, when to train, and the loss in `train()`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from torch import nn

from slm_lab.agent.distributions import ActionDistribution, make_distribution
from slm_lab.agent.memory import MEMORIES
from slm_lab.agent.net.builders import build_loss, build_lr_scheduler, build_optimizer, init_policy_head
from slm_lab.agent.policy import Schedule, boltzmann, epsilon_greedy
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.plugin_schema import family
from slm_lab.spec.schema import AgentSpec, action_mismatch, describe_actions


def require_action_kind(algorithm: str, spaces: BodySpaces, env_name: str = "the env", family_name: str | None = None) -> None:
    """SpecError when an algorithm (of the built-in `family_name`, default itself) cannot act in
    its bodies' action space (e.g. DQN with a Box or a MultiDiscrete), saying what to use instead."""
    kind = spaces.action_kind
    actions = describe_actions(kind, spaces.action_nvec or (spaces.action_dim,))
    if reason := action_mismatch(algorithm, family_name or algorithm, kind, actions, env_name):
        raise SpecError(reason)


TrainStats = dict[str, torch.Tensor]
"""What `train()` returns: named scalar tensors (detached), e.g. {"loss": ..., "q_mean": ...}."""


class Algorithm:
    """One learner of the AEB space. Sees only batched arrays for its own bodies.

    `train()` returns its named statistics (`TrainStats`); `STATS` declares their names, so the
    columns of train.csv, TensorBoard's scalars and the session graph follow the algorithm: adding
    a statistic is a change to one algorithm file. "loss" (the total minimized) and "entropy" are
    every algorithm's; a name an algorithm never reports stays NaN.
    """

    STATS: tuple[str, ...] = ("loss", "entropy")
    # the schedules and noise levels it logs beside them, each under its own name: `explore_var`
    # is the value of explore_var_spec (epsilon or tau) and only that
    SCHEDULES: tuple[str, ...] = ()
    # it builds torch.optim optimizers and learns (False: a player that never trains)
    TRAINS: bool = True

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        require_action_kind(spec.algorithm.name, spaces, family_name=family(spec.algorithm) or spec.algorithm.name)
        self.spec = spec
        self.algo_spec = spec.algorithm
        self.net_spec = spec.net
        self.spaces = spaces
        self.max_frame = max_frame
        self.gamma = spec.algorithm.gamma
        self.rng = np.random.default_rng(seed)
        self.frame = 0
        self.env_steps = 0  # vector steps: every body moved once
        self.opt_step = 0
        self.last_target_update = 0  # frame of the last target-net copy (algorithms with target nets)
        self.memory = self._build_memory()
        self.loss_fn = build_loss(spec.net.loss_spec)
        self._pending_stats: dict[str, list[torch.Tensor]] = {}  # since the last log row
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.device = torch.device("cpu")  # where nets, batches and losses live: see `to`
        if spec.net.policy_init_gain is not None and not isinstance(self, PolicyGradient):
            raise ValueError(f"net.policy_init_gain applies to policy-gradient algorithms (REINFORCE, A2C, PPO), "
                             f"not {spec.algorithm.name}")

    # --- construction helpers -------------------------------------------------------------

    def _build_memory(self) -> Any:
        mem_spec = self.spec.memory
        cls = MEMORIES[mem_spec.name]
        if cls.is_on_policy:
            return cls(mem_spec, self.algo_spec.training_frequency)
        # replay memories sample with the agent's generator; some schedule over the run (PER's beta)
        return cls(mem_spec, self.rng, max_frame=self.max_frame)

    def _add_optimizer(self, name: str, params: list[nn.Parameter], optim_spec: Any) -> None:
        optim = build_optimizer(optim_spec, params)
        self.optims[name] = optim
        self.schedulers[name] = build_lr_scheduler(self.net_spec.lr_scheduler_spec, optim, self.frame_fraction)

    def frame_fraction(self) -> float:
        return min(self.frame / self.max_frame, 1.0)

    # --- device ---------------------------------------------------------------------------

    def to(self, device: torch.device) -> Algorithm:
        """Move the nets (and with them their optimizers' parameters) to `device`; observations
        and sampled batches follow them there (`as_tensor`, `to_device`). Envs stay on the CPU."""
        self.device = torch.device(device)
        for net in self.nets.values():
            net.to(self.device)
        return self

    def compile(self) -> Algorithm:
        """torch.compile each net in place (state_dict keys unchanged, so checkpoints load either
        way); the first batch of each shape pays the compile, later runs read the disk cache."""
        for net in self.nets.values():
            if any(p.requires_grad for p in net.parameters()):  # target nets only copy weights
                net.compile()
        return self

    def as_tensor(self, array: np.ndarray) -> torch.Tensor:
        """A numpy batch from the envs as a tensor on the agent's device (no copy on the CPU)."""
        return torch.from_numpy(array).to(self.device, non_blocking=True)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A sampled batch moved once per update (a no-op on the CPU); replay storage stays in RAM."""
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    # --- the loop -------------------------------------------------------------------------

    def act(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reset_greedy_state(self, bodies: np.ndarray | None = None) -> None:
        """Greedy play starts new episodes in the bodies marked True (all when None): an algorithm
        whose greedy policy remembers (RecurrentPPO's hidden state) forgets them there. Evaluation
        calls it before a greedy episode and after each step with the bodies that finished."""

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int) -> None:
        """Store one step of every body, then train if it is time."""
        self.frame = frame
        self.env_steps += 1
        self.memory.add(state, action, reward, next_state, terminated, truncated)
        if self.to_train():
            for name, value in self.train().items():
                self._pending_stats.setdefault(name, []).append(value.detach())
            self.after_training()

    def to_train(self) -> bool:
        return self.memory.ready()

    def after_training(self) -> None:
        """A hook after each training step (a policy's distribution may redraw its noise)."""

    def train(self) -> TrainStats:
        raise NotImplementedError

    # --- logging --------------------------------------------------------------------------

    @classmethod
    def stat_names(cls) -> list[str]:
        """The statistics of a log row: the named training statistics, then the schedules."""
        return [*cls.STATS, *cls.SCHEDULES, "lr"]

    def drain_stats(self) -> dict[str, float]:
        """Each named statistic's mean since the last call (NaN when not reported), the schedules'
        values and the learning rate; one CPU sync per log row, not per step."""
        pending = self._pending_stats
        if undeclared := set(pending) - set(self.STATS):
            raise ValueError(f"{type(self).__name__}.train() reported {sorted(undeclared)}, not declared in its STATS")
        names = [k for k in self.STATS if pending.get(k)]
        means = torch.stack([torch.stack(pending[k]).float().mean() for k in names]).tolist() if names else []
        stats = dict.fromkeys(self.STATS, float("nan")) | dict(zip(names, means))
        stats |= self.schedule_values()
        stats["lr"] = next(iter(self.optims.values())).param_groups[0]["lr"] if self.optims else float("nan")
        self._pending_stats = {}
        return stats

    def schedule_values(self) -> dict[str, float]:
        """The current value of each of SCHEDULES."""
        return {}

    # --- checkpoints ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optims": {k: v.state_dict() for k, v in self.optims.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "counters": {"frame": self.frame, "env_steps": self.env_steps, "opt_step": self.opt_step,
                         "last_target_update": self.last_target_update},
            # the generator behind exploration and replay sampling (shared with the memory);
            # JSON keeps its 128-bit integers plain for a weights-only load
            "rng": json.dumps(self.rng.bit_generator.state),
            # statistics since the last log row, so a resumed run's next row averages the same steps
            "pending": {k: _stack(v) for k, v in self._pending_stats.items()},
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        for k, v in state["nets"].items():
            self.nets[k].load_state_dict(v)
        if weights_only:
            return
        for k, v in state.get("optims", {}).items():
            self.optims[k].load_state_dict(v)
        for k, v in state.get("schedulers", {}).items():
            self.schedulers[k].load_state_dict(v)
        counters = state.get("counters", {})
        self.frame = counters.get("frame", 0)
        self.env_steps = counters.get("env_steps", 0)
        self.opt_step = counters.get("opt_step", 0)
        self.last_target_update = counters.get("last_target_update", 0)
        if "rng" in state:  # set in place: the memory holds the same generator object
            self.rng.bit_generator.state = json.loads(state["rng"])
        pending = dict(state.get("pending", {}))
        for old, new in (("losses", "loss"), ("entropies", "entropy")):  # checkpoints written before named statistics
            if old in pending:
                pending[new] = pending.pop(old)
        self._pending_stats = {k: list(v.unbind()) for k, v in pending.items() if v.numel()}


    # --- target nets ----------------------------------------------------------------------

    @torch.no_grad()
    def sync_target(self, target: nn.Module, source: nn.Module) -> None:
        """Polyak-average `target` towards `source` (net.update_type polyak), or copy it once
        `net.update_frequency` frames have passed since the last copy (replace)."""
        if self.net_spec.update_type == "polyak":
            torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), self.net_spec.polyak_coef)
        elif self.frame - self.last_target_update >= self.net_spec.update_frequency:
            target.load_state_dict(source.state_dict())
            self.last_target_update = self.frame


def _stack(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([v.detach().float().reshape(()) for v in values]) if values else torch.zeros(0)


class ValueBased(Algorithm):
    """Shared by Q-learning methods: epsilon-greedy or Boltzmann acting over `self.net`'s Q values,
    with `explore_var_spec` as the schedule of epsilon or the temperature."""

    SCHEDULES = ("explore_var",)

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.explore = Schedule(spec.algorithm.explore_var_spec)

    def q_values(self, states: torch.Tensor) -> torch.Tensor:
        """Q(s, .) [..., A] (a distributional DQN overrides it with its distributions' means)."""
        return self.net(states)

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        def q() -> torch.Tensor:
            return self.q_values(self.as_tensor(state))

        explore_var = self.explore.value(self.frame)
        if self.algo_spec.action_policy == "boltzmann":
            return boltzmann(q(), explore_var)
        if self.spaces.action_mask:  # a random action is drawn among the legal ones, which q holds
            return epsilon_greedy(q(), explore_var, self.rng)
        # Q only where a body acts greedily: these nets' forward passes change nothing (noisy
        # nets, which resample, act through their own `act`)
        return epsilon_greedy(q, explore_var, self.rng, num_bodies=len(state), num_actions=self.spaces.action_dim)

    @torch.inference_mode()
    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.q_values(self.as_tensor(state)).argmax(-1).cpu().numpy()

    def schedule_values(self) -> dict[str, float]:
        return {"explore_var": self.explore.value(self.frame)}


class PolicyGradient(Algorithm):
    """Shared by policy-gradient methods: a stochastic policy head, discrete or Gaussian."""

    SCHEDULES = ("entropy_coef",)  # entropy_coef_spec's value

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.entropy_coef = Schedule(getattr(spec.algorithm, "entropy_coef_spec", None), default=0.0)
        self.log_std_dim = spaces.action_dim if spaces.action_kind == "continuous" else 0
        # what the policy head's output means (agent/distributions.py); gSDE's A2C / PPO set their own
        self.dist: ActionDistribution = make_distribution(spaces, lambda: self.policy_net().log_std)

    def policy_net(self) -> nn.Module:
        raise NotImplementedError

    def init_policy_head(self) -> None:
        """Applies `net.policy_init_gain` to the policy net's head (call once the nets exist)."""
        if self.net_spec.policy_init_gain is not None:
            init_policy_head(self.policy_net(), self.spaces.policy_dim, self.net_spec.policy_init_gain)

    def policy_out(self, states: torch.Tensor) -> torch.Tensor:
        """The policy part of the net output: logits or Gaussian means."""
        raise NotImplementedError

    @torch.inference_mode()
    def act(self, state: np.ndarray) -> np.ndarray:
        return self.dist.sample(self.policy_out(self.as_tensor(state))).cpu().numpy()

    @torch.inference_mode()
    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.dist.greedy(self.policy_out(self.as_tensor(state))).cpu().numpy()

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor, entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """log pi(a|s) and the policy's entropy; `entropy=False` skips the entropy (None) when
        nothing needs it, so its ops stay out of a gradient step."""
        return self.dist.log_prob_entropy(out, actions, entropy)

    def after_training(self) -> None:
        self.dist.after_training()

    def schedule_values(self) -> dict[str, float]:
        return {"entropy_coef": self.entropy_coef.value(self.frame)}
