"""The search space: both forms, every kind, Ray Tune domains, and bad input as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from spec_helpers import tiny_spec, write_spec_file
from slm_lab.spec import schema, search
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_file, load_spec, validate


def dqn_raw(search_block: dict, **meta) -> dict:
    raw = tiny_spec({"name": "DQN", "gamma": 0.99}, {"name": "Replay", "batch_size": 32},
                    meta={"max_session": 1, "max_trial": 4, "seed": 5, **meta})
    raw["name"] = "s"
    raw["search"] = search_block
    return raw


def test_kinds_match_the_schema():
    assert set(search.KINDS) == set(schema.SEARCH_KINDS)


def test_dotted_and_nested_forms_give_the_same_params():
    dotted = search.parse_search({"agent.0.algorithm.gamma__uniform": [0.9, 0.999],
                                  "agent.0.net.hid_layers__choice": [[16], [32, 32]]})
    nested = search.parse_search({"agent": [{"algorithm": {"gamma__uniform": [0.9, 0.999]},
                                             "net": {"hid_layers__choice": [[16], [32, 32]]}}]})
    assert dotted == nested
    assert [(p.path, p.kind) for p in dotted] == [("agent.0.algorithm.gamma", "uniform"),
                                                 ("agent.0.net.hid_layers", "choice")]
    # a nested list may skip an index with {}, and dotted prefixes mix with nesting
    mixed = search.parse_search({"env": [{}, {"max_frame__randint": [10, 20]}], "agent.0": {"memory": {"batch_size__choice": [8]}}})
    assert [p.path for p in mixed] == ["env.1.max_frame", "agent.0.memory.batch_size"]


@pytest.mark.parametrize("kind,args", [
    ("grid_search", [0.9, 0.99]), ("choice", [0.9, 0.99]), ("uniform", [0.9, 0.99]), ("quniform", [0.9, 0.99, 0.01]),
    ("loguniform", [0.9, 0.99]), ("qloguniform", [0.9, 0.99, 0.01]), ("normal", [0.95, 0.01]),
    ("qnormal", [0.95, 0.01, 0.01]),
])
def test_every_float_kind_is_accepted_and_its_draws_stay_valid(kind: str, args: list):
    raw = dqn_raw({f"agent.0.algorithm.gamma__{kind}": args})
    spec = validate(raw)
    params = search.parse_search(spec.search)
    draws = search.sample_random(params, 20, seed=1)
    grid = len(args) if kind == "grid_search" else 1
    assert len(draws) == 20 * grid
    values = [d[params[0].key] for d in draws]
    if kind in ("grid_search", "choice"):
        assert set(values) <= set(args)
    elif kind not in search.NORMAL_KINDS:
        assert all(args[0] <= v <= args[1] for v in values)
        if kind.startswith("q"):  # multiples of q
            assert all(abs(v / args[2] - round(v / args[2])) < 1e-6 for v in values)
    else:
        assert abs(np.mean(values) - args[0]) < 0.02
    if kind != "grid_search":
        assert len(set(values)) > 1  # it really samples


@pytest.mark.parametrize("kind,args,low,high", [("randint", [16, 64], 16, 63), ("qrandint", [16, 64, 16], 16, 64)])
def test_integer_kinds_draw_integers_in_range(kind: str, args: list, low: int, high: int):
    params = search.parse_search({f"agent.0.memory.batch_size__{kind}": args})
    values = [d[params[0].key] for d in search.sample_random(params, 40, seed=2)]
    assert all(isinstance(v, int) and low <= v <= high for v in values)
    if kind.startswith("q"):
        assert all(v % args[2] == 0 for v in values)
    validate(dqn_raw({f"agent.0.memory.batch_size__{kind}": args}))


def test_random_draws_are_reproducible_and_cross_the_grid():
    params = search.parse_search({"agent.0.algorithm.gamma__grid_search": [0.9, 0.99],
                                  "agent.0.net.optim_spec.lr__loguniform": [1e-4, 1e-2]})
    a = search.sample_random(params, 3, seed=7)
    assert a == search.sample_random(params, 3, seed=7)
    assert a != search.sample_random(params, 3, seed=8)
    assert len(a) == 6 and sorted(d["agent.0.algorithm.gamma__grid_search"] for d in a) == [0.9] * 3 + [0.99] * 3


def test_apply_sample_sets_values_and_fills_default_parents():
    raw = dqn_raw({"agent.0.algorithm.explore_var_spec.end_val__uniform": [0.01, 0.1]})
    spec = validate(raw)
    params = search.parse_search(spec.search)
    out = search.apply_sample(raw, spec.model_dump(mode="json"), {params[0].key: 0.07}, params)
    assert "search" not in out and "search" in raw  # a copy
    assert out["agent"][0]["algorithm"]["explore_var_spec"]["end_val"] == 0.07
    # the schedule's other keys came from the defaults, so the sampled spec validates
    assert validate(out).agent[0].algorithm.explore_var_spec.end_val == 0.07


def test_tune_domains_and_decode():
    p = search.parse_search({"agent.0.net.hid_layers__choice": [[16], [32, 32]]})[0]
    domain = search.tune_domain(p)
    assert sorted(domain.categories) == [0, 1]  # categories are indices: any JSON value can be one
    assert search.decode(p, 1) == [32, 32]
    g = search.parse_search({"agent.0.algorithm.gamma__grid_search": [0.9, 0.99]})[0]
    assert "grid_search" in search.tune_domain(g)
    assert sorted(search.tune_domain(g, optuna=True).categories) == [0, 1]  # Optuna: a choice


@pytest.mark.parametrize("block,fragment", [
    ({"agent.0.algorithm.gamma__unif": [0.9, 0.99]}, "unknown kind 'unif'"),
    ({"agent.0.algorithm.gama__uniform": [0.9, 0.99]}, "path 'agent.0.algorithm.gama' does not exist in the spec"),
    ({"agent.3.algorithm.gamma__uniform": [0.9, 0.99]}, "path 'agent.3.algorithm.gamma' does not exist"),
    ({"agent.0.algorithm.gamma__uniform": [0.99, 0.9]}, "low 0.99 must be less than high 0.9"),
    ({"agent.0.algorithm.gamma__uniform": [0.9, 0.9]}, "low 0.9 must be less than high 0.9"),
    ({"agent.0.algorithm.gamma__loguniform": [0, 0.9]}, "loguniform needs low > 0, got 0"),
    ({"agent.0.algorithm.gamma__qloguniform": [-1, 0.9, 0.1]}, "qloguniform needs low > 0"),
    ({"agent.0.algorithm.gamma__uniform": [0.9]}, "uniform takes 2 arguments [low, high], got [0.9]"),
    ({"agent.0.algorithm.gamma__quniform": [0.9, 0.99]}, "quniform takes 3 arguments [low, high, q]"),
    ({"agent.0.algorithm.gamma__quniform": [0.9, 0.99, 0]}, "q 0 must be greater than 0"),
    ({"agent.0.algorithm.gamma__normal": [0.9, 0]}, "sd 0 must be greater than 0"),
    ({"agent.0.algorithm.gamma__uniform": ["a", 1]}, "low \"a\" is not a number"),
    ({"agent.0.algorithm.gamma__uniform": 0.9}, "0.9 is not a list of arguments"),
    ({"agent.0.memory.batch_size__randint": [16.5, 64]}, "low 16.5 is not an integer"),
    ({"agent.0.algorithm.gamma__choice": []}, "choice needs at least one value, got []"),
    ({"agent.0.algorithm.gamma__grid_search": []}, "grid_search needs at least one value"),
    ({"agent.0.algorithm.gamma": [0.9, 0.99]}, "key 'agent.0.algorithm.gamma' has no kind"),
    ({"agent": [{"algorithm": {"gamma": 0.9}}]}, "key 'agent.0.algorithm.gamma' has no kind"),
    ({"agent.0.algorithm.gamma__uniform": [0.9, 0.99], "agent": [{"algorithm": {"gamma__choice": [0.9]}}]},
     "'agent.0.algorithm.gamma' is searched twice"),
    ({"meta.resolved.x__choice": [1]}, "'meta.resolved.x' cannot be searched"),
    ({"agent.0.memory.batch_size__lograndint": [16, 64]}, "unknown kind 'lograndint'"),
    ({"__choice": [1]}, "key '__choice' must look like 'path.to.key__kind'"),
    # values the schema refuses are found before anything runs
    ({"agent.0.algorithm.gamma__uniform": [0.9, 1.5]}, "value 1.5 gives agent[0].algorithm.gamma: 1.5 is greater than 1.0"),
    ({"agent.0.memory.batch_size__choice": [-3, 32]}, "value -3 gives agent[0].memory.batch_size: -3 is not a positive integer"),
    ({"agent.0.memory.batch_size__uniform": [16, 128]}, "is not an integer"),
    ({"agent.0.algorithm.name__choice": ["DQN", "A2C"]}, "value \"A2C\" gives"),
])
def test_bad_search_is_one_line_spec_error(block: dict, fragment: str):
    with pytest.raises(SpecError) as e:
        validate(dqn_raw(block))
    message = str(e.value)
    assert message.startswith("s: search: key '") and fragment in message, message
    assert "\n" not in message


def test_optuna_refuses_normal_kinds():
    with pytest.raises(SpecError, match="normal is not supported with meta.search 'optuna'"):
        validate(dqn_raw({"agent.0.algorithm.gamma__normal": [0.95, 0.01]}, search="optuna"))
    validate(dqn_raw({"agent.0.algorithm.gamma__normal": [0.95, 0.01]}))  # fine for random search


def test_meta_search_keys_are_checked():
    spec = validate(dqn_raw({"agent.0.algorithm.gamma__uniform": [0.9, 0.99]}, search="optuna",
                            search_scheduler="asha", search_resources={"cpu": 1}))
    assert spec.meta.search == "optuna" and spec.meta.search_scheduler == "asha" and spec.meta.search_resources.cpu == 1
    for bad, fragment in [({"search": "grid"}, "meta.search: \"grid\" is not one of"),
                          ({"search_scheduler": "pbt"}, "meta.search_scheduler"),
                          ({"search_resources": {"cpu": 0}}, "meta.search_resources.cpu: 0 is not greater than 0"),
                          ({"search_resources": {"cpu": 1, "gpus": 1}}, "meta.search_resources.gpus: unknown key")]:
        with pytest.raises(SpecError, match=fragment.replace("(", r"\(")):
            validate(dqn_raw({}, **bad))


def test_check_validates_search_and_every_spec_params_value(tmp_path: Path):
    good = dqn_raw({"agent": [{"algorithm": {"gamma__uniform": [0.9, 0.999]}}]})
    bench = tiny_spec({"name": "A2C"}, {"name": "OnPolicyBatchReplay"}, env={"name": "${env}", "max_frame": 1000})
    bench["spec_params"] = {"env": ["CartPole-v1", "Acrobot-v1"]}
    path = write_spec_file(tmp_path / "ok.json", {"s": good, "b": bench})
    assert check_file(path) == ["s", "b"]
    bench["spec_params"]["env"].append("NoSuchEnv-v0")
    with pytest.raises(SpecError, match=r"b: env\[0\].name: \"NoSuchEnv-v0\" is not a registered Gymnasium id"):
        check_file(write_spec_file(tmp_path / "bad.json", {"b": bench}))
    for params, fragment in [({"env": []}, "spec_params.env: [] is not a non-empty list"),
                             ({"env": "CartPole-v1"}, "spec_params.env: \"CartPole-v1\" is not a non-empty list"),
                             ({"my-env": ["CartPole-v1"]}, "'my-env' is not a placeholder name")]:
        bench["spec_params"] = params
        with pytest.raises(SpecError) as e:
            check_file(write_spec_file(tmp_path / "bad.json", {"b": bench}))
        assert fragment in str(e.value)
    bad = dqn_raw({"agent.0.algorithm.gama__uniform": [0.9, 0.99]})
    with pytest.raises(SpecError, match="path 'agent.0.algorithm.gama' does not exist"):
        check_file(write_spec_file(tmp_path / "bad.json", {"s": bad}))


def test_search_survives_overrides(tmp_path: Path):
    path = write_spec_file(tmp_path / "s.json", {"s": dqn_raw({"agent.0.algorithm.gamma__uniform": [0.9, 0.99]})})
    spec = load_spec(path, "s", overrides=["agent.0.memory.batch_size=8"], mode="search")
    assert spec.agent[0].memory.batch_size == 8 and spec.search
    assert json.loads(path.read_text())["s"]["search"]
