"""The spec schema: pydantic models with defaults, one per block of a spec.

Kept free of torch and gymnasium imports so `slm-lab check` answers in well under a second.
Component names are listed here as Literals; tests assert they match the registries in
agent/ (the single source of truth for what can be built).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from slm_lab.spec.plugin_schema import family, with_plugins
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, NonNegativeInt, PositiveFloat, PositiveInt, StrictBool, field_validator, model_validator

SPEC_NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"  # letters, digits, _ - . (and not only dots: see Spec)
UnitFloat = Annotated[float, Field(gt=0.0, le=1.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


def _accepts_bool(annotation: Any) -> bool:
    """Whether a field's type takes true/false as itself: bool (or Any) somewhere in it, or no number."""
    if annotation is bool or annotation is Any:
        return True
    args = get_args(annotation)
    if not args:
        return annotation not in (int, float)
    if get_origin(annotation) is Literal:
        return any(isinstance(a, bool) for a in args)
    kinds = [a for a in args if not isinstance(a, (int, float, str)) or isinstance(a, type)]
    if get_origin(annotation) is Annotated:
        return _accepts_bool(args[0])
    if get_origin(annotation) in (list, tuple, dict, set):
        return True  # the items are checked as values of their own
    return all(_accepts_bool(a) for a in kinds if a is not type(None)) if kinds else True


def _items_accept_bool(annotation: Any) -> bool:
    """For a list-typed field (or an optional one): whether its items take true/false."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (list, tuple):
        return all(_accepts_bool(item) for item in get_args(annotation) if item is not Ellipsis)
    return all(_items_accept_bool(arg) for arg in get_args(annotation) if get_origin(arg) is not Literal)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a spec must never be silently ignored. A number is
    never true/false: pydantic would read `lr: true` as 1.0 and `max_session: true` as 1."""

    # allow_inf_nan: JSON's NaN / Infinity (Python's json reads them) are never a valid setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if field is None:
                    continue
                if isinstance(value, bool) and not _accepts_bool(field.annotation):
                    raise ValueError(f"{key}: {str(value).lower()} is not a number")
                if isinstance(value, list) and any(isinstance(v, bool) for v in value) and not _items_accept_bool(field.annotation):
                    raise ValueError(f"{key}: {json.dumps(value)} holds true/false where numbers go")
        return data


def non_finite_path(value: Any, where: str = "") -> str | None:
    """The path of the first NaN / Infinity inside `value` (nested dicts and lists), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite_path(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


# --- schedules and exploration -------------------------------------------------------------


class ScheduleSpec(Strict):
    """A value that changes with frames: exploration epsilon / temperature, entropy coef."""

    name: Literal["no_decay", "linear_decay", "rate_decay"] = "no_decay"
    start_val: float
    end_val: float | None = None
    start_step: NonNegativeInt = 0
    end_step: NonNegativeInt = 0

    @model_validator(mode="after")
    def _check(self) -> "ScheduleSpec":
        if self.name != "no_decay":
            if self.end_val is None:
                raise ValueError(f"end_val is required for a {self.name} schedule")
            if self.end_step <= self.start_step:
                raise ValueError(f"end_step ({self.end_step}) must be greater than start_step ({self.start_step})")
        return self


# --- net ----------------------------------------------------------------------------------


class OptimSpec(Strict):
    name: Literal["Adam", "AdamW", "RMSprop", "SGD"] = "Adam"
    lr: PositiveFloat = 1e-3
    eps: PositiveFloat | None = None
    weight_decay: NonNegativeFloat = 0.0
    momentum: NonNegativeFloat | None = None
    alpha: UnitFloat | None = None
    # Adam / AdamW (beta1, beta2); unset: torch's (0.9, 0.999). CrossQ uses beta1 0.5
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]] | None = None


class LRSchedulerSpec(Strict):
    """`linear`: lr decays linearly with frames to end_factor * lr at max_frame."""

    name: Literal["constant", "linear", "exponential", "step"] = "constant"
    end_factor: Probability = 0.0
    gamma: UnitFloat = 0.99
    step_size: PositiveInt = 1000


class LossSpec(Strict):
    name: Literal["MSELoss", "SmoothL1Loss", "HuberLoss"] = "MSELoss"


Activation = Literal["relu", "tanh", "elu", "leaky_relu", "selu", "sigmoid", "gelu"]


class _NetBase(Strict):
    """Keys every net type shares: training of the net, target-net updates, a dueling Q head."""

    hid_layers_activation: Activation = "relu"
    init_fn: Literal["default", "orthogonal", "xavier_uniform", "kaiming_uniform"] = "orthogonal"
    # Q = V + A - mean(A) (Wang et al. 2016); only for Q-learning algorithms
    dueling: bool = False
    clip_grad_val: PositiveFloat | None = None
    loss_spec: LossSpec = Field(default_factory=LossSpec)
    optim_spec: OptimSpec = Field(default_factory=OptimSpec)
    critic_optim_spec: OptimSpec | None = None
    lr_scheduler_spec: LRSchedulerSpec = Field(default_factory=LRSchedulerSpec)
    shared: bool = False
    # policy-gradient nets: orthogonal gain of the policy head's weights (unset: init_fn as for
    # the other layers); 0.01 starts near a uniform policy (Andrychowicz et al. 2021)
    policy_init_gain: PositiveFloat | None = None
    update_type: Literal["replace", "polyak"] = "replace"
    update_frequency: PositiveInt = 1000
    polyak_coef: UnitFloat = 0.005
    # where the nets, optimizers and losses live (slm_lab/lib/device.py): "auto" = CUDA when
    # available, else CPU; true (CUDA, one-line error without it) / false (CPU); or a device
    # string, "cpu", "cuda", "cuda:1", "mps". Without an index, session j takes GPU j mod n.
    gpu: Union[StrictBool, Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$")]] = "auto"


class MLPNetSpec(_NetBase):
    type: Literal["MLPNet"] = "MLPNet"
    hid_layers: list[PositiveInt] = Field(default_factory=lambda: [64, 64])
    # noisy nets (Fortunato et al. 2018): the Q head's layers are factorized-Gaussian NoisyLinear,
    # initial noise scale noisy_sigma0 / sqrt(fan_in); DQN then acts greedily (no epsilon)
    noisy: bool = False
    noisy_sigma0: PositiveFloat = 0.5


class ConvNetSpec(_NetBase):
    """Conv layers `[out_channels, kernel, stride]` then fully connected layers (Nature DQN default)."""

    type: Literal["ConvNet"] = "ConvNet"
    conv_hid_layers: list[Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]] = Field(
        default_factory=lambda: [[32, 8, 4], [64, 4, 2], [64, 3, 1]], min_length=1
    )
    fc_hid_layers: list[PositiveInt] = Field(default_factory=lambda: [512])
    # mixed precision: the conv and fc layers run under bf16 autocast (outputs back in float32)
    bf16: bool = False


class RecurrentNetSpec(_NetBase):
    """An RNN over the env's stacked recent observations (env.frame_stack = sequence length)."""

    type: Literal["RecurrentNet"] = "RecurrentNet"
    cell_type: Literal["GRU", "LSTM"] = "GRU"
    fc_hid_layers: list[PositiveInt] = Field(default_factory=lambda: [64])
    rnn_hidden_size: PositiveInt = 64
    rnn_num_layers: PositiveInt = 1


class StatefulRecurrentNetSpec(RecurrentNetSpec):
    """An RNN whose hidden state is carried across env steps by the algorithm (RecurrentPPO)."""

    type: Literal["StatefulRecurrentNet"] = "StatefulRecurrentNet"  # type: ignore[assignment]


def net_type(value: Any) -> str:
    # `type` may be left out: MLPNet is the default net
    if isinstance(value, dict):
        return value.get("type", "MLPNet")
    return getattr(value, "type", "MLPNet")


NetSpec = Annotated[
    Union[
        Annotated[MLPNetSpec, Tag("MLPNet")],
        Annotated[ConvNetSpec, Tag("ConvNet")],
        Annotated[RecurrentNetSpec, Tag("RecurrentNet")],
        Annotated[StatefulRecurrentNetSpec, Tag("StatefulRecurrentNet")],
    ],
    Discriminator(net_type),
]
NET_TYPES = ("MLPNet", "ConvNet", "RecurrentNet", "StatefulRecurrentNet")


# --- memory -------------------------------------------------------------------------------


class ReplaySpec(Strict):
    name: Literal["Replay"] = "Replay"
    batch_size: PositiveInt = 64
    max_size: PositiveInt = 100_000


class OnPolicyReplaySpec(Strict):
    name: Literal["OnPolicyReplay"] = "OnPolicyReplay"


class OnPolicyBatchReplaySpec(Strict):
    name: Literal["OnPolicyBatchReplay"] = "OnPolicyBatchReplay"


class PrioritizedReplaySpec(ReplaySpec):
    """Proportional prioritized replay (Schaul et al. 2016); beta anneals to 1 over beta_steps
    transitions (unset: over the whole run)."""

    name: Literal["PrioritizedReplay"] = "PrioritizedReplay"  # type: ignore[assignment]
    alpha: NonNegativeFloat = 0.6
    beta: Probability = 0.4
    beta_steps: PositiveInt | None = None
    epsilon: PositiveFloat = 1e-6


class AtariReplaySpec(ReplaySpec):
    """Replay for frame-stacked observations that stores each frame once."""

    name: Literal["AtariReplay"] = "AtariReplay"  # type: ignore[assignment]
    batch_size: PositiveInt = 32
    max_size: PositiveInt = 1_000_000


MemorySpec = Annotated[
    Union[ReplaySpec, OnPolicyReplaySpec, OnPolicyBatchReplaySpec, PrioritizedReplaySpec, AtariReplaySpec],
    Field(discriminator="name"),
]
MEMORY_NAMES = ("Replay", "OnPolicyReplay", "OnPolicyBatchReplay", "PrioritizedReplay", "AtariReplay")
ON_POLICY_MEMORIES = ("OnPolicyReplay", "OnPolicyBatchReplay")
OFF_POLICY_MEMORIES = ("Replay", "PrioritizedReplay", "AtariReplay")


# --- algorithm ----------------------------------------------------------------------------


class _AlgorithmBase(Strict):
    gamma: UnitFloat = 0.99
    # env steps between trainings (each step moves every body once); episodes for OnPolicyReplay
    training_frequency: PositiveInt = 1


class ReinforceSpec(_AlgorithmBase):
    name: Literal["REINFORCE"] = "REINFORCE"
    action_policy: Literal["default"] = "default"
    center_return: bool = True
    entropy_coef_spec: ScheduleSpec | None = None


class CategoricalSpec(Strict):
    """C51 (Bellemare et al. 2017): Q(s, a) as probabilities on num_atoms fixed atoms in [v_min, v_max]."""

    type: Literal["categorical"] = "categorical"
    num_atoms: Annotated[int, Field(ge=2)] = 51
    v_min: float = -10.0
    v_max: float = 10.0

    @model_validator(mode="after")
    def _support(self) -> "CategoricalSpec":
        if self.v_min >= self.v_max:
            raise ValueError(f"distributional.v_min {self.v_min} must be below v_max {self.v_max}")
        return self


class QuantileSpec(Strict):
    """QR-DQN (Dabney et al. 2018): Q(s, a) as num_quantiles quantiles, quantile Huber loss with threshold kappa."""

    type: Literal["quantile"] = "quantile"
    num_quantiles: PositiveInt = 200
    kappa: PositiveFloat = 1.0


class DQNSpec(_AlgorithmBase):
    name: Literal["DQN"] = "DQN"
    action_policy: Literal["epsilon_greedy", "boltzmann"] = "epsilon_greedy"
    explore_var_spec: ScheduleSpec = Field(
        default_factory=lambda: ScheduleSpec(name="linear_decay", start_val=1.0, end_val=0.05, end_step=10_000)
    )
    training_batch_iter: PositiveInt = 1
    training_start_step: NonNegativeInt = 1000
    # n-step returns: the target sums n rewards then bootstraps with gamma^n (fewer at episode ends)
    n_step: PositiveInt = 1
    # distributional Q: C51 ({"type": "categorical", ...}) or QR-DQN ({"type": "quantile", ...})
    distributional: Annotated[Union[CategoricalSpec, QuantileSpec], Field(discriminator="type")] | None = None


class DoubleDQNSpec(DQNSpec):
    name: Literal["DoubleDQN"] = "DoubleDQN"  # type: ignore[assignment]


class GSDESpec(Strict):
    """Generalized state-dependent exploration (Raffin et al. 2021) for continuous actions."""

    # env steps between new noise matrices; -1: one per rollout (drawn again after each training)
    sample_freq: int = -1
    log_std_init: float = 0.0  # initial log sigma of every (feature, action) entry

    @model_validator(mode="after")
    def _check(self) -> "GSDESpec":
        if self.sample_freq == 0 or self.sample_freq < -1:
            raise ValueError("gsde.sample_freq must be -1 (once per rollout) or a positive number of env steps")
        return self


class A2CSpec(_AlgorithmBase):
    name: Literal["A2C"] = "A2C"
    action_policy: Literal["default"] = "default"
    lam: Probability | None = 0.95
    num_step_returns: PositiveInt | None = None
    entropy_coef_spec: ScheduleSpec | None = Field(default_factory=lambda: ScheduleSpec(start_val=0.01))
    val_loss_coef: PositiveFloat = 0.5
    normalize_advantage: bool = False
    gsde: GSDESpec | None = None  # state-dependent exploration noise instead of a state-independent std

    @model_validator(mode="after")
    def _one_estimator(self) -> "A2CSpec":
        if self.lam is not None and self.num_step_returns is not None:
            raise ValueError("set either lam (GAE) or num_step_returns (n-step), not both")
        return self


class SARSASpec(_AlgorithmBase):
    """On-policy TD control; `training_frequency` is the rollout length per body."""

    name: Literal["SARSA"] = "SARSA"
    action_policy: Literal["epsilon_greedy", "boltzmann"] = "epsilon_greedy"
    explore_var_spec: ScheduleSpec = Field(
        default_factory=lambda: ScheduleSpec(name="linear_decay", start_val=1.0, end_val=0.05, end_step=10_000)
    )


class PPOSpec(A2CSpec):
    """A2C's keys plus the clipped surrogate's: clip range schedule, epochs, minibatches."""

    name: Literal["PPO"] = "PPO"  # type: ignore[assignment]
    entropy_coef_spec: ScheduleSpec | None = None
    normalize_advantage: bool = True
    clip_eps_spec: ScheduleSpec = Field(default_factory=lambda: ScheduleSpec(start_val=0.2))
    clip_vloss: bool = False
    training_epoch: PositiveInt = 4
    minibatch_size: PositiveInt = 64


class RecurrentPPOSpec(PPOSpec):
    """PPO's keys plus the length of the sequences its recurrent net is trained on."""

    name: Literal["RecurrentPPO"] = "RecurrentPPO"  # type: ignore[assignment]
    # steps per training sequence (truncated BPTT); unset: each body's whole rollout of
    # training_frequency steps. Minibatches are minibatch_size // seq_len whole sequences.
    seq_len: PositiveInt | None = None

    @model_validator(mode="after")
    def _sequences_fit(self) -> "RecurrentPPOSpec":
        seq_len = self.seq_len or self.training_frequency
        if self.training_frequency % seq_len:
            raise ValueError(f"seq_len {seq_len} must divide training_frequency {self.training_frequency} "
                             "(the rollout is cut into whole sequences)")
        if self.minibatch_size % seq_len:
            raise ValueError(f"minibatch_size {self.minibatch_size} must be a multiple of the sequence length {seq_len} "
                             "(minibatches are groups of whole sequences)")
        return self


class SACSpec(_AlgorithmBase):
    """Soft actor-critic; continuous (tanh-squashed Gaussian) or discrete (softmax) actions."""

    name: Literal["SAC"] = "SAC"
    action_policy: Literal["default"] = "default"
    training_batch_iter: PositiveInt = 1
    training_start_step: NonNegativeInt = 100
    auto_entropy: bool = True
    init_alpha: PositiveFloat = 1.0
    # None: -|A| for continuous actions, 0.98 * log|A| for discrete ones
    target_entropy: float | None = None


class ActionNoiseSpec(Strict):
    """Exploration noise of a deterministic policy (slm_lab/agent/noise.py), in [-1, 1] action
    units: sigma is a fraction of each Box dimension's half-width. theta and dt: OU only."""

    name: Literal["gaussian", "ou"] = "gaussian"
    sigma: NonNegativeFloat = 0.1
    theta: PositiveFloat = 0.15
    dt: PositiveFloat = 1e-2


class TD3Spec(_AlgorithmBase):
    """TD3 (Fujimoto et al. 2018): twin critics, target policy smoothing, delayed actor updates."""

    name: Literal["TD3"] = "TD3"
    action_policy: Literal["default"] = "default"
    training_batch_iter: PositiveInt = 1
    training_start_step: NonNegativeInt = 10_000
    action_noise: ActionNoiseSpec = Field(default_factory=ActionNoiseSpec)
    # critic steps per actor (and target) step
    policy_delay: PositiveInt = 2
    # std and clip of the Gaussian noise on the target action, in [-1, 1] action units
    target_noise: NonNegativeFloat = 0.2
    target_noise_clip: NonNegativeFloat = 0.5


class DDPGSpec(TD3Spec):
    """DDPG (Lillicrap et al. 2016): one critic, no target smoothing, an actor step per critic step."""

    name: Literal["DDPG"] = "DDPG"  # type: ignore[assignment]
    policy_delay: PositiveInt = 1
    target_noise: NonNegativeFloat = 0.0


class CrossQSpec(SACSpec):
    """CrossQ (Bhatt et al. 2024): SAC with batch-renormalized critics and no target networks.
    Defaults are the paper's; net.* configures the actor, critic_hid_layers the critics."""

    name: Literal["CrossQ"] = "CrossQ"  # type: ignore[assignment]
    policy_delay: PositiveInt = 3
    critic_hid_layers: list[PositiveInt] = Field(default_factory=lambda: [2048, 2048])
    # BatchRenorm (Ioffe 2017): running-statistics momentum, r/d clips, plain-BN warm-up batches
    renorm_momentum: UnitFloat = 0.01
    renorm_r_max: Annotated[float, Field(ge=1.0)] = 3.0
    renorm_d_max: NonNegativeFloat = 5.0
    renorm_warmup_steps: NonNegativeInt = 100_000


class RandomSpec(_AlgorithmBase):
    """A uniformly random player that never learns (within the action mask where the env gives
    one): the fixed opponent of multi-agent benchmarks."""

    name: Literal["Random"] = "Random"


class SnapshotSpec(_AlgorithmBase):
    """Self-play: plays with frozen snapshots of agent `of` (itself never learns). Every
    `snapshot_frequency` of that agent's frames a snapshot joins the pool (the last `last_k`
    are kept); at each game's start the opponent is drawn by `pool`: the `latest` snapshot,
    `uniform` over the pool, or `prioritized` towards snapshots the learner beats least,
    weight (1 - win rate)^`priority_power` (the prioritized fictitious self-play of Vinyals
    et al. 2019, AlphaStar)."""

    name: Literal["Snapshot"] = "Snapshot"
    of: NonNegativeInt = 0
    pool: Literal["latest", "uniform", "prioritized"] = "uniform"
    last_k: PositiveInt = 5
    snapshot_frequency: PositiveInt = 5000
    priority_power: PositiveFloat = 2.0


AlgorithmSpec = Annotated[
    Union[ReinforceSpec, DQNSpec, DoubleDQNSpec, A2CSpec, SARSASpec, PPOSpec, RecurrentPPOSpec, SACSpec, RandomSpec, SnapshotSpec,
          TD3Spec, DDPGSpec, CrossQSpec],
    Field(discriminator="name"),
]
ALGORITHM_NAMES = ("REINFORCE", "DQN", "DoubleDQN", "A2C", "SARSA", "PPO", "RecurrentPPO", "SAC", "Random", "Snapshot",
                   "TD3", "DDPG", "CrossQ")
# the action spaces each algorithm can act in (checked against the env when a run starts)
DISCRETE_ONLY = ("discrete",)
ANY_ACTIONS = ("discrete", "continuous")
CONTINUOUS_ONLY = ("continuous",)
ALGORITHM_ACTIONS = {"DQN": DISCRETE_ONLY, "DoubleDQN": DISCRETE_ONLY, "SARSA": DISCRETE_ONLY,
                     "TD3": CONTINUOUS_ONLY, "DDPG": CONTINUOUS_ONLY}
# algorithms whose net outputs Q(s, .): a dueling head fits them
Q_ALGORITHMS = ("DQN", "DoubleDQN", "SARSA")
# which memories each algorithm can learn from
ALGORITHM_MEMORIES = {
    "REINFORCE": ON_POLICY_MEMORIES,
    "A2C": ON_POLICY_MEMORIES,
    "DQN": OFF_POLICY_MEMORIES,
    "DoubleDQN": OFF_POLICY_MEMORIES,
    "SARSA": ON_POLICY_MEMORIES,
    "PPO": ON_POLICY_MEMORIES,
    "RecurrentPPO": ("OnPolicyBatchReplay",),  # fixed [T, B] rollouts, cut into sequences
    "SAC": ("Replay",),  # uniform replay: SAC does not use importance weights
    "Random": MEMORY_NAMES,  # stores nothing: any memory block is accepted and left unused
    "Snapshot": MEMORY_NAMES,
    "TD3": ("Replay",),
    "DDPG": ("Replay",),
    "CrossQ": ("Replay",),
}


class AgentSpec(Strict):
    name: str = "agent"
    # agents of one multi-agent env that share a team name also get the team's tables and graphs
    team: str | None = Field(default=None, min_length=1)
    # a built-in name, or a plugin: `module:Class` or a name given to slm_lab.register (spec/plugin_schema.py)
    algorithm: with_plugins("algorithm", AlgorithmSpec, _AlgorithmBase)  # type: ignore[valid-type]
    memory: with_plugins("memory", MemorySpec, ReplaySpec)  # type: ignore[valid-type]
    net: with_plugins("net", NetSpec, _NetBase, default="MLPNet") = Field(default_factory=MLPNetSpec)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _memory_fits_algorithm(self) -> "AgentSpec":
        allowed = ALGORITHM_MEMORIES.get(family(self.algorithm))
        if allowed is not None and family(self.memory) not in allowed:
            raise ValueError(
                f"memory {self.memory.name} does not fit algorithm {self.algorithm.name} (use one of: {', '.join(allowed)})"
            )
        return self

    @model_validator(mode="after")
    def _dqn_options_fit(self) -> "AgentSpec":
        algo = self.algorithm
        if getattr(algo, "n_step", 1) > 1 and self.memory.name not in ("Replay", "PrioritizedReplay"):
            raise ValueError(f"algorithm.n_step needs memory Replay or PrioritizedReplay, not {self.memory.name}")
        if getattr(self.net, "noisy", False) and algo.name not in ("DQN", "DoubleDQN"):
            raise ValueError(f"net.noisy needs algorithm DQN or DoubleDQN, not {algo.name}")
        if getattr(algo, "distributional", None) is not None and self.net.type != "MLPNet":
            raise ValueError(f"algorithm.distributional needs net.type MLPNet, not {self.net.type}")
        return self

    @model_validator(mode="after")
    def _dueling_needs_q(self) -> "AgentSpec":
        if self.net.dueling and family(self.algorithm) not in Q_ALGORITHMS:
            raise ValueError(f"net.dueling needs a Q-learning algorithm ({', '.join(Q_ALGORITHMS)}), not {self.algorithm.name}")
        return self

    @model_validator(mode="after")
    def _stateful_net_pairs_with_recurrent_ppo(self) -> "AgentSpec":
        stateful, recurrent = self.net.type == "StatefulRecurrentNet", self.algorithm.name == "RecurrentPPO"
        if stateful != recurrent:
            raise ValueError("algorithm RecurrentPPO and net.type StatefulRecurrentNet go together (the algorithm carries "
                             f"the net's hidden state), not algorithm {self.algorithm.name} with net.type {self.net.type}")
        return self


# --- env, body, meta ----------------------------------------------------------------------

JSONScalar = Union[bool, int, float, str, None]


# Gymnasium ids with a numpy-batched same-step vector env in slm_lab/env/batched.py
BATCHED_ENV_IDS = frozenset({"CartPole-v1"})


EnvKind = Literal["gymnasium", "entry_point", "unity", "pettingzoo"]


class EnvSpec(Strict):
    """A Gymnasium id (`CartPole-v1`) or an entry point (`my_pkg.envs:MyEnv`)."""

    name: str = Field(min_length=1)
    num_envs: PositiveInt = 1
    max_t: PositiveInt | None = None
    max_frame: PositiveInt = 100_000
    kwargs: dict[str, Union[JSONScalar, list[JSONScalar]]] = Field(default_factory=dict)
    # "batched": one numpy-batched env for all sub-envs (slm_lab/env/batched.py); "auto": that
    # where the env has one and needs no per-sub-env wrapper, else "sync"
    # "ale": ale-py's native C++ vector env with its own Atari preprocessing (ALE/ ids; env/ale_vector.py)
    vectorization: Literal["auto", "sync", "async", "batched", "ale"] = "auto"
    # legal-action masks appended to the observation (env/action_mask.py): "auto" finds a Dict
    # observation's action_mask entry, "info" reads info["action_mask"], "none" ignores both
    action_mask: Literal["auto", "info", "none"] = "auto"
    # observation / reward processing; "auto" = "atari" for ALE/ ids (see docs/SPEC.md)
    preprocess: Literal["auto", "none", "atari"] = "auto"
    frame_stack: PositiveInt | None = None  # unset: 4 with atari preprocessing, else 1
    clip_reward: bool | None = None  # unset: on with atari preprocessing
    episodic_life: bool = False  # a lost life ends the agent's episode, not the game
    normalize_obs: bool = False
    normalize_reward: bool = False

    @property
    def kind(self) -> EnvKind:
        """Which adapter runs this env, decided here once from the name: `unity:<name>`,
        `pettingzoo:<module>`, a `module:Class` (or `module:EnvId`) entry point, else a Gymnasium id."""
        prefix, sep, _ = self.name.partition(":")
        if sep and prefix in ("unity", "pettingzoo"):
            return prefix  # type: ignore[return-value]
        return "entry_point" if sep else "gymnasium"

    @property
    def has_own_bodies(self) -> bool:
        """Unity and PettingZoo envs bring their bodies (a brain's agents, the env's agents);
        a Gymnasium env has num_envs of them."""
        return self.kind in ("unity", "pettingzoo")

    def is_atari(self) -> bool:
        return self.preprocess == "atari" or (self.preprocess == "auto" and self.name.startswith("ALE/"))

    def stack_size(self) -> int:
        """Observations stacked per step: `frame_stack`, else 4 for Atari and 1 otherwise."""
        return self.frame_stack or (4 if self.is_atari() else 1)

    @model_validator(mode="after")
    def _processing(self) -> "EnvSpec":
        if self.normalize_obs and self.is_atari():
            raise ValueError("normalize_obs does not apply to Atari frames (the net scales uint8 pixels by 1/255)")
        if self.episodic_life and not self.is_atari():
            raise ValueError("episodic_life needs Atari preprocessing (an ALE/ env or preprocess 'atari')")
        if self.vectorization == "ale" and not (self.name.startswith("ALE/") and self.is_atari()):
            raise ValueError(f"vectorization 'ale' is ale-py's Atari vector env: it needs an ALE/ id with atari preprocessing, not {self.name}")
        if self.vectorization == "batched":
            if self.name not in BATCHED_ENV_IDS:
                raise ValueError(f"vectorization 'batched' exists for {', '.join(sorted(BATCHED_ENV_IDS))} only, not {self.name}")
            if self.is_atari() or self.stack_size() > 1:
                raise ValueError("vectorization 'batched' cannot take per-sub-env wrappers (Atari preprocessing, frame_stack)")
        return self


class BodySpec(Strict):
    """How agents are embodied in envs (DESIGN.md §3).

    `outer`: every agent in every env; `inner`: agent i in env i; `custom`: the explicit
    `[a, e, b]` list (env e's body b belongs to agent a). With outer/inner, the bodies of an
    env are split into equal contiguous blocks among the agents paired with it; `num`, when
    set, is the number each pair must get.
    """

    product: Literal["outer", "inner", "custom"] = "outer"
    num: PositiveInt | None = None
    custom: list[Annotated[list[NonNegativeInt], Field(min_length=3, max_length=3)]] | None = None


class SearchResources(Strict):
    """What one search trial reserves on the Ray cluster (default: meta.max_session CPUs)."""

    cpu: PositiveFloat


class TrackingSpec(Strict):
    """Experiment tracking beyond TensorBoard (analysis/tracking.py, docs/SPEC.md): at trial end
    the resolved spec, the scalars, the graphs and any recorded videos go to MLflow and/or
    Weights & Biases in offline mode. Each needs its extra: pip install 'slm_lab[tracking]'."""

    mlflow: bool = False
    # any MLflow tracking URI; unset: a local file store in <data dir>/mlruns
    mlflow_uri: str | None = None
    # W&B offline: files in <data dir>/wandb, uploaded later with `wandb sync`
    wandb: bool = False
    # MLflow experiment / W&B project (unset: the spec's name)
    project: str | None = None


class MetaSpec(Strict):
    max_session: Annotated[int, Field(gt=0, le=256)] = 4
    max_trial: PositiveInt = 1
    log_frequency: PositiveInt = 1000
    eval_frequency: PositiveInt = 5000
    eval_episodes: PositiveInt = 5
    ma_window: PositiveInt = 100
    seed: NonNegativeInt = 0
    tensorboard: bool = False
    tracking: TrackingSpec | None = None
    # torch intra-op threads per session (docs/SPEC.md): 1 is fastest for small nets when sessions
    # share the cores; more helps large batches of a session that runs alone
    torch_threads: Annotated[int, Field(gt=0, le=256)] = 1
    # torch.compile every agent's nets (their forward, used by acting and by each update); the
    # compiled code is cached on disk (lib/config cache_dir()/torch_compile) for the next run
    compile: bool = False
    # resumable checkpoint every this many frames (unset: eval_frequency); see docs/OPERATIONS.md
    checkpoint_frequency: PositiveInt | None = None
    # save the replay memory with it (unset: true for off-policy memories)
    checkpoint_memory: bool | None = None
    # search mode (docs/SEARCH.md): how trials are sampled, early stopping, CPUs per trial
    search: Literal["random", "optuna"] = "random"
    search_scheduler: Literal["asha"] | None = None
    search_resources: SearchResources | None = None
    # filled by the lab when a run starts: {"trial": t, "session": s, "session_seed": ...}
    resolved: dict[str, Any] = Field(default_factory=dict)


# the kinds of spec.search keys (`path__kind`), as in slm_lab/spec/search.py (a test keeps them equal)
SEARCH_KINDS = (
    "grid_search", "choice", "uniform", "quniform", "loguniform", "qloguniform",
    "randint", "qrandint", "normal", "qnormal",
)


class Spec(Strict):
    """One named spec: agents, envs, their embodiment, run settings and a search space."""

    # it names the run folder data/{name}_{timestamp}: a name, never a path
    name: Annotated[str, Field(min_length=1, max_length=128)] = "spec"
    agent: list[AgentSpec] = Field(min_length=1)
    env: list[EnvSpec] = Field(min_length=1)
    body: BodySpec = Field(default_factory=BodySpec)
    meta: MetaSpec = Field(default_factory=MetaSpec)
    search: dict[str, Any] = Field(default_factory=dict)
    # benchmark mode: each value fills the `${key}` placeholders, one trial per combination
    spec_params: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _finite_everywhere(cls, data: Any) -> Any:
        # also inside free-form blocks (env kwargs, search, spec_params) that no float field guards
        found = non_finite_path(data)
        if found:
            raise ValueError(f"{found}: NaN / Infinity is not a valid number (use a finite value)")
        return data

    @field_validator("name")
    @classmethod
    def _a_name_not_a_path(cls, name: str) -> str:
        if not re.fullmatch(SPEC_NAME_PATTERN, name) or set(name) == {"."}:
            raise ValueError(f"{json.dumps(name)} is not a name: it names the run folder, so only letters, digits, "
                             "_ - and . (no path separators, not . or ..)")
        return name

    @model_validator(mode="after")
    def _aeb_space(self) -> "Spec":
        # static checks; body counts of Unity / PettingZoo envs are checked when the envs start
        from slm_lab.spec.aeb_check import check_aeb

        check_aeb(self)
        return self

    @model_validator(mode="after")
    def _nets_fit_observations(self) -> "Spec":
        # what is known before an env starts: Atari gives images, frame_stack gives sequences
        for a, agent in enumerate(self.agent):
            for e, env in enumerate(self.env):
                if self.body.product == "inner" and a != e:
                    continue
                net = family(agent.net)
                if env.is_atari() and net != "ConvNet":
                    raise ValueError(f"agent[{a}].net.type: {net} cannot take the Atari frames of env[{e}] (images); use ConvNet")
                if net == "RecurrentNet" and env.stack_size() < 2:
                    raise ValueError(f"agent[{a}].net.type: RecurrentNet runs over env[{e}].frame_stack observations; set it to 2 or more (e.g. 4)")
        return self

    @field_validator("search")
    @classmethod
    def _search_keys(cls, search: dict[str, Any]) -> dict[str, Any]:
        # kinds and arguments here; paths and values against the spec in loader.validate
        from slm_lab.spec.search import parse_search

        try:
            parse_search(search)
        except ValueError as e:
            raise ValueError(str(e).removeprefix("search: ")) from None
        return search
