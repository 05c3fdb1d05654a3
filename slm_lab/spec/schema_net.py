"""The schema of nets and memories (spec blocks `agent[i].net` and `agent[i].memory`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, PositiveFloat, PositiveInt, StrictBool, Tag

from slm_lab.spec.schema_base import NonNegativeFloat, Probability, Strict, UnitFloat


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


class MultiInputNetSpec(_NetBase):
    """One encoder per entry of a Tuple / Dict observation, concatenated, then shared layers
    and the heads (SB3's MultiInputPolicy): each image entry gets conv layers `[out_channels,
    kernel, stride]` and a linear layer of `image_features`; each vector entry an MLP of
    `vector_hid_layers` ([] passes it on as it is)."""

    type: Literal["MultiInputNet"] = "MultiInputNet"
    conv_hid_layers: list[Annotated[list[PositiveInt], Field(min_length=3, max_length=3)]] = Field(
        default_factory=lambda: [[32, 8, 4], [64, 4, 2], [64, 3, 1]], min_length=1
    )
    image_features: PositiveInt = 256
    vector_hid_layers: list[PositiveInt] = Field(default_factory=lambda: [64])
    hid_layers: list[PositiveInt] = Field(default_factory=lambda: [64, 64])


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
        Annotated[MultiInputNetSpec, Tag("MultiInputNet")],
        Annotated[RecurrentNetSpec, Tag("RecurrentNet")],
        Annotated[StatefulRecurrentNetSpec, Tag("StatefulRecurrentNet")],
    ],
    Discriminator(net_type),
]
NET_TYPES = ("MLPNet", "ConvNet", "MultiInputNet", "RecurrentNet", "StatefulRecurrentNet")


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
