"""The schema of algorithms (spec block `agent[i].algorithm`) and which actions and memories each takes."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from slm_lab.spec.schema_base import NonNegativeFloat, Probability, ScheduleSpec, Strict, UnitFloat
from slm_lab.spec.schema_net import *  # noqa: F401,F403


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
    # what the value function sees (MAPPO, Yu et al. 2022): the body's own observation, every
    # agent's observation of its PettingZoo env ("joint") or the env's global state ("state");
    # the policy always acts on the body's own observation
    critic_input: Literal["own", "joint", "state"] = "own"
    critic_body_id: bool = False  # append the body's one-hot index to a "joint" / "state" critic input
    # the critic learns targets scaled by their running mean and std (MAPPO's value
    # normalization, agent/algorithm/value_norm.py); values are used at their real scale
    value_norm: bool = False

    @model_validator(mode="after")
    def _one_estimator(self) -> "A2CSpec":
        if self.lam is not None and self.num_step_returns is not None:
            raise ValueError("set either lam (GAE) or num_step_returns (n-step), not both")
        if self.critic_body_id and self.critic_input == "own":
            raise ValueError("critic_body_id applies to a centralized critic: set critic_input \"joint\" or \"state\"")
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
        if self.critic_input != "own":
            raise ValueError("critic_input: RecurrentPPO's critic reads its recurrent features; a centralized critic "
                             "is available for A2C and PPO")
        if self.value_norm:
            raise ValueError("value_norm is available for A2C and PPO, not yet for RecurrentPPO")
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
# the action spaces each algorithm can act in (env/spaces.py action_kind; checked by `slm-lab check`,
# before a run and when an agent is built): Discrete, Box, and the factorized MultiDiscrete / MultiBinary
# policies of the policy-gradient algorithms (agent/distributions.py)
DISCRETE_ONLY = ("discrete",)
ANY_ACTIONS = ("discrete", "continuous")
CONTINUOUS_ONLY = ("continuous",)
FACTORIZED_ACTIONS = ("multi_discrete", "multi_binary")
POLICY_GRADIENT_ACTIONS = (*ANY_ACTIONS, *FACTORIZED_ACTIONS)
ALGORITHM_ACTIONS = {"DQN": DISCRETE_ONLY, "DoubleDQN": DISCRETE_ONLY, "SARSA": DISCRETE_ONLY,
                     "TD3": CONTINUOUS_ONLY, "DDPG": CONTINUOUS_ONLY,
                     "REINFORCE": POLICY_GRADIENT_ACTIONS, "A2C": POLICY_GRADIENT_ACTIONS, "PPO": POLICY_GRADIENT_ACTIONS,
                     "RecurrentPPO": POLICY_GRADIENT_ACTIONS, "Random": POLICY_GRADIENT_ACTIONS}
ACTION_WORDS = {"discrete": "discrete", "continuous": "continuous", "multi_discrete": "MultiDiscrete", "multi_binary": "MultiBinary"}


def describe_actions(kind: str, dims: tuple[int, ...]) -> str:
    """How an error names an env's actions: the kind, or the space with its dims for the factorized
    kinds (`dims`: MultiDiscrete's nvec, or MultiBinary's (n,))."""
    if kind == "multi_discrete":
        return f"MultiDiscrete({list(dims)})"
    return f"MultiBinary({dims[0]})" if kind == "multi_binary" else kind


def action_mismatch(algorithm: str, family: str, kind: str, actions: str, env_name: str) -> str | None:
    """Why `algorithm` (of the built-in `family`) cannot act in `env_name`'s actions of `kind`
    (env/spaces.py action_kind; `actions` as `describe_actions` says them), with what to use
    instead for the factorized kinds; None when it can."""
    allowed = ALGORITHM_ACTIONS.get(family, ANY_ACTIONS)
    if kind in allowed:
        return None
    msg = f"algorithm {algorithm} needs {' or '.join(ACTION_WORDS[k] for k in allowed)} actions, but {env_name} has {actions} actions"
    if kind in FACTORIZED_ACTIONS:
        msg += ("; use REINFORCE, A2C, PPO or RecurrentPPO (a factorized categorical / Bernoulli policy over the "
                "dims), or wrap the env so it takes one Discrete action")
    return msg


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
