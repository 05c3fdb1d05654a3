"""The command line as a user meets it: check, run dev/train/enjoy, jobs, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, cwd=cwd, env=os.environ.copy(), timeout=PROGRESS_TIMEOUT_S)


def assert_bad_input(result: subprocess.CompletedProcess, fragment: str, data_dir: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists() or not any(data_dir.iterdir())


@pytest.fixture
def a2c_file(tmp_path: Path) -> Path:
    spec = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000},
                     meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2})
    return write_spec_file(tmp_path / "a2c.json", {"a2c_tiny": spec})


def test_help_and_check(a2c_file: Path):
    assert cli("--help").returncode == 0
    ok = cli("check", str(a2c_file))
    assert ok.returncode == 0 and "ok:" in ok.stdout


def test_check_rejects_a_broken_spec_with_one_line(tmp_path: Path, isolated_dirs: Path):
    bad = write_spec_file(tmp_path / "bad.json", {"b": tiny_spec({"name": "DQN"}, {"name": "Replay", "batch_size": -3})})
    assert_bad_input(cli("check", str(bad)), "b: agent[0].memory.batch_size: -3 is not a positive integer", isolated_dirs)


def test_dev_run_then_enjoy(a2c_file: Path, isolated_dirs: Path):
    result = cli("run", str(a2c_file), "a2c_tiny", "dev")
    assert result.returncode == 0, result.stderr
    runs = [p for p in isolated_dirs.iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.startswith("a2c_tiny_")
    run_dir = runs[0]
    for name in ("spec.json", "log.txt", "session_0/train.csv", "session_0/eval.csv", "session_0/model/best.pt", "trial_metrics.json"):
        assert (run_dir / name).is_file(), name
    assert str(run_dir) in result.stdout
    enjoy = cli("run", str(a2c_file), "a2c_tiny", f"enjoy@{run_dir / 'session_0'}")
    assert enjoy.returncode == 0, enjoy.stderr
    assert "mean return" in enjoy.stdout
    assert len([p for p in isolated_dirs.iterdir() if p.is_dir()]) == 1  # enjoy writes no new run
    plot = cli("plot", str(run_dir), str(run_dir), "--out", str(run_dir.parent.parent / "cmp" / "compare"))
    assert plot.returncode == 0, plot.stderr
    png = run_dir.parent.parent / "cmp" / "compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "Plotly.newPlot" in png.with_suffix(".html").read_text()


def test_overrides_reach_the_saved_spec(a2c_file: Path, isolated_dirs: Path):
    result = cli("run", str(a2c_file), "a2c_tiny", "train", "-s", "env.0.max_frame=600", "-s", "agent.0.net.hid_layers=[8]")
    assert result.returncode == 0, result.stderr
    saved = json.loads(next(p for p in isolated_dirs.iterdir() if p.is_dir()).joinpath("spec.json").read_text())
    assert saved["env"][0]["max_frame"] == 600 and saved["agent"][0]["net"]["hid_layers"] == [8]


def test_jobs_file_runs_every_job_in_order(tmp_path: Path, a2c_file: Path, isolated_dirs: Path):
    jobs = tmp_path / "experiments.json"
    jobs.write_text(json.dumps({str(a2c_file): {"a2c_tiny": "dev"}, str(a2c_file.with_name("a2c2.json")): {"a2c_two": "dev"}}))
    write_spec_file(a2c_file.with_name("a2c2.json"), {"a2c_two": json.loads(a2c_file.read_text())["a2c_tiny"]})
    result = cli("run", "--jobs", str(jobs))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name.rsplit("_", 4)[0] for p in isolated_dirs.iterdir() if p.is_dir())
    assert names == ["a2c_tiny", "a2c_two"]


@pytest.mark.parametrize("args,fragment", [
    (("run", "missing.json", "x", "train"), "spec file 'missing.json' not found"),
    (("run", "{a2c}", "nope", "train"), "spec 'nope' not found"),
    (("run", "{a2c}", "a2c_tiny", "fly"), "mode 'fly' is not one of"),
    (("run", "{a2c}", "a2c_tiny", "enjoy"), "mode 'enjoy' needs a session folder"),
    (("run", "{a2c}", "a2c_tiny", "enjoy@/no/such/run"), "enjoy: no saved model in '/no/such/run'"),
    (("run", "{a2c}", "a2c_tiny", "train", "-s", "meta.max_session=-2"), "meta.max_session: -2 is not a positive integer"),
    (("run", "{a2c}", "a2c_tiny", "train", "-s", "agent.5.net=1"), "'5' is not an index"),
    (("run", "{a2c}", "a2c_tiny", "train", "-s", "agent.0.algorithm.gamma=Infinity"), "NaN / Infinity is not a valid number"),
    (("run", "--jobs", "/no/jobs.json"), "no job file at /no/jobs.json"),
    (("plot", "/no/such/run"), "plot: '/no/such/run' is not a run folder"),
    (("run", "benchmark/sarsa/sarsa_cartpole.json", "sarsa_cartpole", "dev", "-s", "env.0.name=Pendulum-v1"),
     "algorithm SARSA needs discrete actions, but env 'Pendulum-v1' has continuous actions"),
])
def test_bad_run_input_exits_2_with_one_line_and_writes_nothing(args, fragment, a2c_file: Path, isolated_dirs: Path):
    args = tuple(a.replace("{a2c}", str(a2c_file)) for a in args)
    assert_bad_input(cli(*args), fragment, isolated_dirs)
