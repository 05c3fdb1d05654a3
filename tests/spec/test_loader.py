"""Loading named specs: files, overrides, placeholders, mode adjustments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_lab.spec import SpecError, check_file, load_spec
from slm_lab.spec.loader import SHIPPED_SPEC_DIR

SPEC = {
    "s": {
        "agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}],
        "env": [{"name": "${env}", "max_frame": 5000}],
    }
}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


def test_overrides_are_typed_and_validated(spec_file: Path):
    spec = load_spec(spec_file, "s", ["meta.max_session=1", "agent.0.net.hid_layers=[16,16]", "env.0.max_frame=300"], {"env": "CartPole-v1"})
    assert spec.meta.max_session == 1
    assert spec.agent[0].net.hid_layers == [16, 16]
    assert spec.env[0].max_frame == 300
    with pytest.raises(SpecError, match=r"^s: meta.max_session: -1 is not a positive integer$"):
        load_spec(spec_file, "s", ["meta.max_session=-1"], {"env": "CartPole-v1"})


def test_override_of_a_missing_path_is_an_error(spec_file: Path):
    with pytest.raises(SpecError, match="path 'agent.3' does not exist|'3' is not an index"):
        load_spec(spec_file, "s", ["agent.3.net.hid_layers=[1]"], {"env": "CartPole-v1"})
    with pytest.raises(SpecError, match="must look like path.to.key=value"):
        load_spec(spec_file, "s", ["meta.max_session"], {"env": "CartPole-v1"})


def test_placeholders_must_resolve(spec_file: Path):
    assert load_spec(spec_file, "s", variables={"env": "Acrobot-v1"}).env[0].name == "Acrobot-v1"
    with pytest.raises(SpecError, match=r"placeholder '\$\{env\}' has no value"):
        load_spec(spec_file, "s")


def test_missing_file_bad_json_and_unknown_name(tmp_path: Path, spec_file: Path):
    with pytest.raises(SpecError, match="spec file 'nope.json' not found"):
        load_spec("nope.json", "s")
    bad = tmp_path / "bad.json"
    bad.write_text('{"s": {"agent": [}')
    with pytest.raises(SpecError, match="invalid JSON at line 1 column 18"):
        load_spec(bad, "s")
    with pytest.raises(SpecError, match=r"spec 'x' not found in .* \(available: s\)"):
        load_spec(spec_file, "x")


def test_dev_mode_shrinks_the_run(spec_file: Path):
    spec = load_spec(spec_file, "s", variables={"env": "CartPole-v1"}, mode="dev")
    assert spec.meta.max_session == 1
    assert spec.env[0].max_frame <= 2000


def test_every_shipped_spec_is_valid():
    files = sorted(SHIPPED_SPEC_DIR.rglob("*.json"))
    assert files, "no shipped specs found"
    for path in files:
        assert check_file(path), path
