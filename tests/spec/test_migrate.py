"""`slm-lab migrate`: real SLM Lab v4.1.1 / v5.0.0 spec files (tests/spec/slm_lab_specs/README.md)
converted, checked and run in dev mode with a tiny frame budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slm_lab.spec.loader import check_file
from slm_lab.spec.migrate import migrate_file, read_old_json

SPECS = Path(__file__).parent / "slm_lab_specs"
FILES = sorted(SPECS.glob("*.json"))


def test_at_least_ten_real_files_with_their_origin() -> None:
    readme = (SPECS / "README.md").read_text()
    assert len(FILES) >= 10 and all(f.name in readme for f in FILES)


@pytest.mark.parametrize("old", FILES, ids=[f.stem for f in FILES])
def test_real_spec_migrates_checks_and_runs_in_dev(old: Path, tmp_path: Path) -> None:
    import slm_lab

    new, notes = migrate_file(old)
    assert set(new) == set(read_old_json(old))
    out = tmp_path / "new.json"
    out.write_text(json.dumps(new))
    assert check_file(out) == list(new)
    name = next(iter(new))
    result = slm_lab.train(out, name, mode="dev", overrides={
        "env.0.max_frame": 300, "env.0.num_envs": 2, "meta.log_frequency": 100, "meta.eval_frequency": 150,
        "meta.eval_episodes": 1})
    assert result.metrics["num_failed_sessions"] == 0
    assert result.sessions[0].eval["frame"].iloc[-1] == 300


def test_v4_keys_map_and_each_drop_is_reported(tmp_path: Path) -> None:
    new, notes = migrate_file(SPECS / "v4_benchmark_ppo_ppo_cartpole.json")
    spec = new["ppo_shared_cartpole"]
    algo, net = spec["agent"][0]["algorithm"], spec["agent"][0]["net"]
    assert algo["training_frequency"] == 32 and "time_horizon" not in algo
    assert net["optim_spec"] == {"name": "Adam", "lr": 0.02} and "actor_optim_spec" not in net
    assert net["gpu"] is False  # carried to the lab's device setting
    assert isinstance(spec["env"], list) and spec["env"][0]["name"] == "CartPole-v0"  # still registered in Gymnasium
    assert "agent.0.net.optim_spec.lr__grid_search" in spec["search"]
    assert any("time_horizon" in n and "training_frequency" in n for n in notes)
    assert all(n.startswith("ppo_shared_cartpole: ") and "\n" not in n for n in notes)


def test_cli_migrate_writes_the_file_and_prints_the_notes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from slm_lab.cli import app

    out = tmp_path / "new.json"
    result = CliRunner().invoke(app, ["migrate", str(SPECS / "v4_benchmark_ppo_ppo_cartpole.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "time_horizon" in result.output and json.loads(out.read_text())["ppo_shared_cartpole"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": {"agent": {"algorithm": {"name": "HydraDQN"}, "memory": {"name": "Replay"}}, "env": {}}}')
    result = CliRunner().invoke(app, ["migrate", str(bad)])
    assert result.exit_code == 2 and "HydraDQN" in result.output
