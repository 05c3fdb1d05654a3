"""The spec schema: defaults, and one exact one-line message per malformed spec."""

from __future__ import annotations

import copy

import pytest

from slm_lab.spec import SpecError
from slm_lab.spec.loader import build_raw, check_env_names, validate
from slm_lab.spec.schema import ALGORITHM_NAMES, MEMORY_NAMES, NET_TYPES

GOOD = {
    "agent": [{
        "algorithm": {"name": "DQN"},
        "memory": {"name": "Replay", "batch_size": 32},
        "net": {"type": "MLPNet", "hid_layers": [32]},
    }],
    "env": [{"name": "CartPole-v1", "max_frame": 1000}],
}


def with_change(path: str, value, base=GOOD) -> dict:
    raw = copy.deepcopy(base)
    node = raw
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return raw


DELETE = object()


def error_of(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        spec = validate(build_raw(raw, "s"))
        check_env_names(spec, where="s")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_fill_a_minimal_spec():
    spec = validate(build_raw(GOOD, "s"))
    assert spec.meta.max_session == 4
    assert spec.agent[0].algorithm.gamma == 0.99
    assert spec.agent[0].net.optim_spec.name == "Adam"
    assert spec.env[0].num_envs == 1
    assert spec.body.product == "outer"


MALFORMED = [
    ("agent.0.memory.batch_size", -3, "s: agent[0].memory.batch_size: -3 is not a positive integer"),
    ("agent.0.memory.batch_size", "big", 's: agent[0].memory.batch_size: "big" is not an integer'),
    ("agent.0.algorithm.gamma", 1.5, "s: agent[0].algorithm.gamma: 1.5 is greater than 1.0"),
    ("agent.0.algorithm.gamma", 0, "s: agent[0].algorithm.gamma: 0 is not greater than 0.0"),
    ("agent.0.algorithm.name", "DQNN",
     "s: agent[0].algorithm.name: \"DQNN\" is not a known algorithm name (valid: " + ", ".join(f"'{n}'" for n in ALGORITHM_NAMES) + ")"),
    ("agent.0.memory.name", "Replayy",
     "s: agent[0].memory.name: \"Replayy\" is not a known memory name (valid: " + ", ".join(f"'{n}'" for n in MEMORY_NAMES) + ")"),
    ("agent.0.net.type", "CNN", "s: agent[0].net.type: \"CNN\" is not a known net type (valid: " + ", ".join(f"'{n}'" for n in NET_TYPES) + ")"),
    ("agent.0.memory", {"name": "OnPolicyReplay"},
     "s: agent[0]: memory OnPolicyReplay does not fit algorithm DQN (use one of: Replay, PrioritizedReplay, AtariReplay)"),
    ("agent.0.memory.batchsize", 3, "s: agent[0].memory.batchsize: unknown key (check the spelling; see docs/SPEC.md)"),
    ("agent.0.net.hid_layers", [64, 0], "s: agent[0].net.hid_layers[1]: 0 is not a positive integer"),
    ("agent.0.net.hid_layers_activation", "relux",
     "s: agent[0].net.hid_layers_activation: \"relux\" is not one of: 'relu', 'tanh', 'elu', 'leaky_relu', 'selu', 'sigmoid' or 'gelu'"),
    ("agent.0.net.optim_spec", {"lr": -0.1}, "s: agent[0].net.optim_spec.lr: -0.1 is not greater than 0.0"),
    ("agent.0.net.optim_spec", {"name": "Adamm"},
     "s: agent[0].net.optim_spec.name: \"Adamm\" is not one of: 'Adam', 'AdamW', 'RMSprop' or 'SGD'"),
    ("agent.0.algorithm.explore_var_spec", {"name": "linear_decay", "start_val": 1.0},
     "s: agent[0].algorithm.explore_var_spec: end_val is required for a linear_decay schedule"),
    ("agent.0.algorithm.explore_var_spec", {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "start_step": 10, "end_step": 5},
     "s: agent[0].algorithm.explore_var_spec: end_step (5) must be greater than start_step (10)"),
    ("agent", [], "s: agent: [] is too short (needs at least 1 item(s))"),
    ("agent", DELETE, "s: agent: required key is missing"),
    ("env.0.name", "CartPol-v1", 's: env[0].name: "CartPol-v1" is not a registered Gymnasium id (did you mean: CartPole-v0, CartPole-v1)'),
    ("env.0.name", "", 's: env[0].name: "" is empty'),
    ("env.0.name", "mypkg:", 's: env[0].name: "mypkg:" is not a module:Class entry point'),
    ("env.0.num_envs", "x", 's: env[0].num_envs: "x" is not an integer'),
    ("env.0.max_frame", -100, "s: env[0].max_frame: -100 is not a positive integer"),
    ("env.0.vectorization", "threads", "s: env[0].vectorization: \"threads\" is not one of: 'auto', 'sync', 'async', 'batched' or 'ale'"),
    ("meta", {"max_session": 0}, "s: meta.max_session: 0 is not a positive integer"),
    ("meta", {"seed": -1}, "s: meta.seed: -1 is less than 0"),
    ("meta", {"tensorboard": "yes please"}, 's: meta.tensorboard: "yes please" is not true or false'),
    ("body", {"product": "cross"}, "s: body.product: \"cross\" is not one of: 'outer', 'inner' or 'custom'"),
    ("search", {"agent.0.algorithm.gamma__uniformm": [0.9, 0.99]},
     "s: search: key 'agent.0.algorithm.gamma__uniformm': unknown kind 'uniformm' (valid: grid_search, choice, "
     "uniform, quniform, loguniform, qloguniform, randint, qrandint, normal, qnormal)"),
]

_TWO_ENVS = with_change("env", [{"name": "CartPole-v1", "num_envs": 2}, {"name": "CartPole-v1", "num_envs": 3}])
AEB_MALFORMED = [
    ({"product": "inner"}, "s: body.product 'inner' pairs agent i with env i, but there are 1 agents and 2 envs"),
    ({"num": 2}, "s: body.num is 2 but env 1 gives each of its 1 agent(s) 3 bodies"),
    ({"product": "custom"}, "s: body.product 'custom' needs body.custom, a list of [agent, env, body] triples"),
    ({"product": "custom", "custom": [[0, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, 1, 1]]},
     "s: body.custom: body 1 of env 1 is given to agents 0 and 0"),
    ({"product": "custom", "custom": [[0, 0, 0], [0, 0, 1], [0, 1, 0]]}, "s: body.custom: bodies [1, 2] of env 1 belong to no agent"),
    ({"product": "custom", "custom": [[1, 0, 0]]}, "s: body.custom: agent 1 does not exist (1 agents)"),
    ({"product": "custom", "custom": [[0, 0, 5]]}, "s: body.custom: env 0 has 2 bodies, so body 5 does not exist"),
    ({"product": "custom", "custom": [[0, 0]]}, "s: body.custom[0]: [0, 0] is too short (needs at least 3 item(s))"),
]


@pytest.mark.parametrize("body,expected", AEB_MALFORMED)
def test_incompatible_aeb_products_are_rejected(body, expected):
    assert error_of(with_change("body", body, base=_TWO_ENVS)) == expected


def test_two_agents_split_a_vector_env_and_one_agent_spans_two_envs():
    from slm_lab.spec.aeb_check import assign_bodies

    spec = validate(build_raw(_TWO_ENVS, "s"))
    assert assign_bodies(spec.body, 1, [2, 3]) == {(0, 0): [0, 1], (0, 1): [0, 1, 2]}
    assert assign_bodies(spec.body, 2, [4]) == {(0, 0): [0, 1], (1, 0): [2, 3]}
    inner = spec.body.model_copy(update={"product": "inner"})
    assert assign_bodies(inner, 2, [2, 3]) == {(0, 0): [0, 1], (1, 1): [0, 1, 2]}


@pytest.mark.parametrize("path,value,expected", MALFORMED, ids=[m[2].split(":")[1].strip() + str(i) for i, m in enumerate(MALFORMED)])
def test_malformed_spec_gives_exact_one_line_message(path, value, expected):
    assert error_of(with_change(path, value)) == expected


def test_a2c_rejects_two_advantage_estimators():
    raw = with_change("agent.0", {"algorithm": {"name": "A2C", "lam": 0.9, "num_step_returns": 5}, "memory": {"name": "OnPolicyBatchReplay"}})
    assert error_of(raw) == "s: agent[0].algorithm: set either lam (GAE) or num_step_returns (n-step), not both"


def test_schema_names_match_the_registries():
    from slm_lab.agent.algorithm import ALGORITHMS
    from slm_lab.agent.memory import MEMORIES
    from slm_lab.agent.net import NETS

    assert set(ALGORITHM_NAMES) == set(ALGORITHMS)
    assert set(MEMORY_NAMES) == set(MEMORIES)
    assert set(NET_TYPES) == set(NETS)


@pytest.mark.parametrize("name,kind", [
    ("CartPole-v1", "gymnasium"), ("ALE/Pong-v5", "gymnasium"), ("my_pkg.envs:MyEnv", "entry_point"),
    ("minigrid:MiniGrid-Empty-5x5-v0", "entry_point"), ("unity:3dball", "unity"), ("pettingzoo:mpe2.simple_spread_v3", "pettingzoo"),
])
def test_the_env_kind_is_decided_once_on_the_schema(name: str, kind: str):
    from slm_lab.spec.schema import EnvSpec

    env = EnvSpec(name=name)
    assert env.kind == kind and env.has_own_bodies == (kind in ("unity", "pettingzoo"))
