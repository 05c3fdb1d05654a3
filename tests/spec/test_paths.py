"""One dotted-path module: `-s` overrides, search samples and resume overrides behave the same."""

from __future__ import annotations

import pytest

from spec_helpers import tiny_spec
from slm_lab.spec import paths
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import build_raw, validate
from slm_lab.spec.search import apply_sample, parse_search


def dqn_raw() -> dict:
    """A DQN spec that writes no explore_var_spec block: the schema's default fills it."""
    return tiny_spec({"name": "DQN"}, {"name": "Replay", "batch_size": 32, "max_size": 1000})


@pytest.mark.parametrize("path,value", [
    ("agent.0.algorithm.explore_var_spec.end_val", 0.01),  # a block the spec did not write
    ("agent.0.net.optim_spec.lr", 3e-4),
    ("agent.0.net.hid_layers", [16, 16]),
    ("meta.max_session", 3),
    ("env.0.max_frame", 777),
])
def test_override_and_search_sample_give_the_same_spec(path: str, value):
    raw = dqn_raw()
    by_override = validate(build_raw(raw, "t", [f"{path}={__import__('json').dumps(value)}"]))
    full = validate(build_raw(raw, "t")).model_dump(mode="json")
    params = parse_search({f"{path}__choice": [value]})
    sampled = apply_sample(build_raw(raw, "t"), full, {params[0].key: value}, params)
    by_search = validate(sampled)
    assert by_override.model_dump() == by_search.model_dump()
    assert paths.get(by_override.model_dump(mode="json"), path) == value


def test_an_override_into_a_missing_block_keeps_the_blocks_defaults():
    spec = validate(build_raw(dqn_raw(), "t", ["agent.0.algorithm.explore_var_spec.end_val=0.01"]))
    default = validate(build_raw(dqn_raw(), "t")).agent[0].algorithm.explore_var_spec
    schedule = spec.agent[0].algorithm.explore_var_spec
    assert schedule.end_val == 0.01
    assert (schedule.name, schedule.start_val, schedule.end_step) == (default.name, default.start_val, default.end_step)


@pytest.mark.parametrize("override,expected", [
    ("agent.0.net.optim_spec.lr=true", "lr: true is not a number"),
    ("meta.max_session=true", "max_session: true is not a number"),
    ("meta.max_session=false", "max_session: false is not a number"),
    ("agent.0.net.hid_layers=[32,true]", "hid_layers: [32, true] holds true/false"),
    ("env.0.max_t=true", "max_t: true is not a number"),
])
def test_numbers_are_typed_strictly(override: str, expected: str):
    with pytest.raises(SpecError, match=expected.replace("[", r"\[")):
        validate(build_raw(dqn_raw(), "t", [override]))


def test_a_true_false_key_still_takes_booleans():
    assert validate(build_raw(dqn_raw(), "t", ["meta.tensorboard=true"])).meta.tensorboard is True


def test_the_same_bad_paths_fail_the_same_way():
    raw = dqn_raw()
    for bad, message in (("agent.3.net.hid_layers", "'3' is not an index"), ("meta.max_session.x", "is not an object or list"),
                         ("agent..net", "is not a dotted path")):
        with pytest.raises(SpecError, match=message):
            paths.assign(raw, bad, 1)
    assert paths.exists(raw, "agent.0.net.hid_layers") and not paths.exists(raw, "agent.0.nope")
    with pytest.raises(SpecError, match="'agent.0.nope' does not exist"):
        paths.get(raw, "agent.0.nope")
