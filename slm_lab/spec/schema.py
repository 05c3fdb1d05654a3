"""The spec schema: pydantic models with defaults, one per block of a spec.

Kept free of torch and gymnasium imports so `slm-lab check` answers in well under a second.
Component names are listed as Literals; tests assert they match the registries in agent/ (the
single source of truth for what can be built). In rooms of their own: the strict base model and
schedules (schema_base.py), nets and memories (schema_net.py), algorithms (schema_algorithm.py);
this module holds the agent, env, body, meta and the whole spec, and re-exports the rest.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator, model_validator

from slm_lab.spec.plugin_schema import family, with_plugins

# the parts, re-exported: callers import every model from slm_lab.spec.schema
from slm_lab.spec.schema_algorithm import *  # noqa: F401,F403
from slm_lab.spec.schema_algorithm import _AlgorithmBase
from slm_lab.spec.schema_base import *  # noqa: F401,F403
from slm_lab.spec.schema_base import SPEC_NAME_PATTERN, Strict
from slm_lab.spec.schema_net import *  # noqa: F401,F403
from slm_lab.spec.schema_net import _NetBase


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
                if net == "MultiInputNet" and env.stack_size() > 1:
                    raise ValueError(f"agent[{a}].net.type: MultiInputNet takes one Tuple / Dict observation at a time; "
                                     f"env[{e}].frame_stack would stack them (leave it unset)")
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
