"""The spec schema: pydantic models with defaults, one per block of a spec.

Kept free of torch and gymnasium imports so `slm-lab check` answers in well under a second.
Component names are listed here as Literals; tests assert they match the registries in
agent/ (the single source of truth for what can be built).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

UnitFloat = Annotated[float, Field(gt=0.0, le=1.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a spec must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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


class LRSchedulerSpec(Strict):
    """`linear`: lr decays linearly with frames to end_factor * lr at max_frame."""

    name: Literal["constant", "linear", "exponential", "step"] = "constant"
    end_factor: Probability = 0.0
    gamma: UnitFloat = 0.99
    step_size: PositiveInt = 1000


class LossSpec(Strict):
    name: Literal["MSELoss", "SmoothL1Loss", "HuberLoss"] = "MSELoss"


class MLPNetSpec(Strict):
    type: Literal["MLPNet"] = "MLPNet"
    hid_layers: list[PositiveInt] = Field(default_factory=lambda: [64, 64])
    hid_layers_activation: Literal["relu", "tanh", "elu", "leaky_relu", "selu", "sigmoid", "gelu"] = "relu"
    init_fn: Literal["default", "orthogonal", "xavier_uniform", "kaiming_uniform"] = "orthogonal"
    clip_grad_val: PositiveFloat | None = None
    loss_spec: LossSpec = Field(default_factory=LossSpec)
    optim_spec: OptimSpec = Field(default_factory=OptimSpec)
    critic_optim_spec: OptimSpec | None = None
    lr_scheduler_spec: LRSchedulerSpec = Field(default_factory=LRSchedulerSpec)
    shared: bool = False
    update_type: Literal["replace", "polyak"] = "replace"
    update_frequency: PositiveInt = 1000
    polyak_coef: UnitFloat = 0.005


def net_type(value: Any) -> str:
    # `type` may be left out: MLPNet is the default net
    if isinstance(value, dict):
        return value.get("type", "MLPNet")
    return getattr(value, "type", "MLPNet")


NetSpec = Annotated[Union[Annotated[MLPNetSpec, Tag("MLPNet")]], Discriminator(net_type)]
NET_TYPES = ("MLPNet",)


# --- memory -------------------------------------------------------------------------------


class ReplaySpec(Strict):
    name: Literal["Replay"] = "Replay"
    batch_size: PositiveInt = 64
    max_size: PositiveInt = 100_000


class OnPolicyReplaySpec(Strict):
    name: Literal["OnPolicyReplay"] = "OnPolicyReplay"


class OnPolicyBatchReplaySpec(Strict):
    name: Literal["OnPolicyBatchReplay"] = "OnPolicyBatchReplay"


MemorySpec = Annotated[
    Union[ReplaySpec, OnPolicyReplaySpec, OnPolicyBatchReplaySpec], Field(discriminator="name")
]
MEMORY_NAMES = ("Replay", "OnPolicyReplay", "OnPolicyBatchReplay")
ON_POLICY_MEMORIES = ("OnPolicyReplay", "OnPolicyBatchReplay")
OFF_POLICY_MEMORIES = ("Replay",)


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


class DQNSpec(_AlgorithmBase):
    name: Literal["DQN"] = "DQN"
    action_policy: Literal["epsilon_greedy", "boltzmann"] = "epsilon_greedy"
    explore_var_spec: ScheduleSpec = Field(
        default_factory=lambda: ScheduleSpec(name="linear_decay", start_val=1.0, end_val=0.05, end_step=10_000)
    )
    training_batch_iter: PositiveInt = 1
    training_start_step: NonNegativeInt = 1000


class DoubleDQNSpec(DQNSpec):
    name: Literal["DoubleDQN"] = "DoubleDQN"  # type: ignore[assignment]


class A2CSpec(_AlgorithmBase):
    name: Literal["A2C"] = "A2C"
    action_policy: Literal["default"] = "default"
    lam: Probability | None = 0.95
    num_step_returns: PositiveInt | None = None
    entropy_coef_spec: ScheduleSpec | None = Field(default_factory=lambda: ScheduleSpec(start_val=0.01))
    val_loss_coef: PositiveFloat = 0.5
    normalize_advantage: bool = False

    @model_validator(mode="after")
    def _one_estimator(self) -> "A2CSpec":
        if self.lam is not None and self.num_step_returns is not None:
            raise ValueError("set either lam (GAE) or num_step_returns (n-step), not both")
        return self


AlgorithmSpec = Annotated[
    Union[ReinforceSpec, DQNSpec, DoubleDQNSpec, A2CSpec], Field(discriminator="name")
]
ALGORITHM_NAMES = ("REINFORCE", "DQN", "DoubleDQN", "A2C")
# which memories each algorithm can learn from
ALGORITHM_MEMORIES = {
    "REINFORCE": ON_POLICY_MEMORIES,
    "A2C": ON_POLICY_MEMORIES,
    "DQN": OFF_POLICY_MEMORIES,
    "DoubleDQN": OFF_POLICY_MEMORIES,
}


class AgentSpec(Strict):
    name: str = "agent"
    algorithm: AlgorithmSpec
    memory: MemorySpec
    net: NetSpec = Field(default_factory=MLPNetSpec)

    @model_validator(mode="after")
    def _memory_fits_algorithm(self) -> "AgentSpec":
        allowed = ALGORITHM_MEMORIES[self.algorithm.name]
        if self.memory.name not in allowed:
            raise ValueError(
                f"memory {self.memory.name} does not fit algorithm {self.algorithm.name} (use one of: {', '.join(allowed)})"
            )
        return self


# --- env, body, meta ----------------------------------------------------------------------

JSONScalar = Union[bool, int, float, str, None]


class EnvSpec(Strict):
    """A Gymnasium id (`CartPole-v1`) or an entry point (`my_pkg.envs:MyEnv`)."""

    name: str = Field(min_length=1)
    num_envs: PositiveInt = 1
    max_t: PositiveInt | None = None
    max_frame: PositiveInt = 100_000
    kwargs: dict[str, Union[JSONScalar, list[JSONScalar]]] = Field(default_factory=dict)
    vectorization: Literal["sync", "async"] = "sync"


class BodySpec(Strict):
    product: Literal["outer", "inner", "custom"] = "outer"
    num: PositiveInt = 1


class MetaSpec(Strict):
    max_session: Annotated[int, Field(gt=0, le=256)] = 4
    max_trial: PositiveInt = 1
    log_frequency: PositiveInt = 1000
    eval_frequency: PositiveInt = 5000
    eval_episodes: PositiveInt = 5
    ma_window: PositiveInt = 100
    seed: NonNegativeInt = 0
    tensorboard: bool = False
    # filled by the lab when a run starts: {"trial": t, "session": s, "session_seed": ...}
    resolved: dict[str, Any] = Field(default_factory=dict)


SEARCH_KINDS = (
    "grid_search", "choice", "uniform", "quniform", "loguniform", "qloguniform",
    "randint", "qrandint", "normal", "qnormal",
)


class Spec(Strict):
    """One named spec: agents, envs, their embodiment, run settings and a search space."""

    name: str = "spec"
    agent: list[AgentSpec] = Field(min_length=1)
    env: list[EnvSpec] = Field(min_length=1)
    body: BodySpec = Field(default_factory=BodySpec)
    meta: MetaSpec = Field(default_factory=MetaSpec)
    search: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _aeb_supported(self) -> "Spec":
        if len(self.agent) != 1 or len(self.env) != 1:
            raise ValueError(
                f"{len(self.agent)} agents x {len(self.env)} envs: this version runs one agent in one env "
                "(use env[0].num_envs for many bodies)"
            )
        if self.body.product == "custom":
            raise ValueError("body.product 'custom' needs several agents or envs; use 'outer' here")
        return self

    @field_validator("search")
    @classmethod
    def _search_keys(cls, search: dict[str, Any]) -> dict[str, Any]:
        for key in search:
            path, sep, kind = key.rpartition("__")
            if not sep or not path:
                raise ValueError(f"key '{key}' must look like 'path.to.key__kind'")
            if kind not in SEARCH_KINDS:
                raise ValueError(f"key '{key}': unknown kind '{kind}' (valid: {', '.join(SEARCH_KINDS)})")
        return search
