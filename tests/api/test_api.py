"""slm_lab.train / search / load_policy round trips on CartPole; spawned sessions from callers
without a main guard (a script, stdin)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import slm_lab
from process_helpers import PROGRESS_TIMEOUT_S
from slm_lab.spec.errors import SpecError
from spec_helpers import tiny_spec

REPO = Path(__file__).resolve().parents[2]


def reinforce_spec(sessions: int = 1, max_frame: int = 600) -> dict:
    return tiny_spec({"name": "REINFORCE", "training_frequency": 1}, {"name": "OnPolicyReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": max_frame},
                     meta={"max_session": sessions, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 2})


def test_train_returns_the_run_and_tables_equal_to_its_csvs(tmp_path: Path) -> None:
    result = slm_lab.train(reinforce_spec(), "api_reinforce", data_dir=tmp_path / "runs")
    assert result.run_dir.parent == tmp_path / "runs" and (result.run_dir / "trial_metrics.json").is_file()
    assert result.metrics["num_failed_sessions"] == 0 and "strength" in result.metrics
    (session,) = result.sessions
    pd.testing.assert_frame_equal(session.train, pd.read_csv(session.dir / "train.csv"))
    pd.testing.assert_frame_equal(session.eval, pd.read_csv(session.dir / "eval.csv"))
    assert len(session.eval) >= 3 and session.eval["frame"].iloc[-1] == 600

    policy = slm_lab.load_policy(session.dir)
    one = policy.act(np.zeros(4, dtype=np.float32))
    batch = policy.act(np.zeros((5, 4), dtype=np.float32))
    assert np.ndim(one) == 0 and int(one) in (0, 1)
    assert batch.shape == (5,) and set(batch.tolist()) <= {0, 1}
    assert policy.act(np.zeros(4), deterministic=False) in (0, 1)
    with pytest.raises(ValueError, match="neither"):
        policy.act(np.zeros(3))


def test_the_api_and_the_cli_write_the_same_run(tmp_path: Path) -> None:
    """One path for both: the same files, and at the same seed the same numbers (timings aside)."""
    spec_file = tmp_path / "same.json"
    spec_file.write_text(json.dumps({"same": reinforce_spec(max_frame=400)}))
    api_run = slm_lab.train(spec_file, data_dir=tmp_path / "api").run_dir
    env = {**os.environ, "SLM_LAB_DATA_DIR": str(tmp_path / "cli")}
    done = subprocess.run([str(Path(sys.executable).with_name("slm-lab")), "run", str(spec_file), "same", "train"],
                          env=env, capture_output=True, text=True, timeout=PROGRESS_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    (cli_run,) = [p for p in (tmp_path / "cli").iterdir() if p.is_dir()]
    files = lambda run: sorted(str(p.relative_to(run)) for p in run.rglob("*") if "tensorboard" not in p.parts)
    assert files(api_run) == files(cli_run)
    timing = ["wall_t", "fps"]
    for table in ("session_0/train.csv", "session_0/eval.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(api_run / table).drop(columns=timing),
                                      pd.read_csv(cli_run / table).drop(columns=timing))


def test_train_takes_a_spec_file_a_name_and_overrides(tmp_path: Path) -> None:
    spec_file = tmp_path / "one.json"
    spec_file.write_text(json.dumps({"only": reinforce_spec()}))
    result = slm_lab.train(spec_file, overrides=["env.0.max_frame=200"])  # the name is optional: one spec
    assert result.run_dir.name.startswith("only_") and result.sessions[0].eval["frame"].iloc[-1] == 200
    with pytest.raises(SpecError, match="not found"):
        slm_lab.train(spec_file, "missing")
    with pytest.raises(SpecError, match="max_frame"):
        slm_lab.train(reinforce_spec(), "bad", overrides={"env.0.max_frame": -1})


def test_search_ranks_trials_and_gives_the_best_spec(tmp_path: Path) -> None:
    spec = reinforce_spec(max_frame=200)
    spec["meta"].update(max_trial=2)
    spec["search"] = {"agent.0.net.optim_spec.lr__choice": [0.01, 0.0001]}
    result = slm_lab.search(spec, "api_search", data_dir=tmp_path)
    assert len(result.trials) == 2
    assert list(result.trials["trial"]) == [r["trial"] for r in result.summary["rows"]]
    assert result.trials["strength"].iloc[0] >= result.trials["strength"].iloc[1]
    assert result.best_spec["agent"][0]["net"]["optim_spec"]["lr"] in (0.01, 0.0001)
    assert (result.run_dir / "experiment_df.csv").is_file()


NO_GUARD_SCRIPT = """
import slm_lab
spec = {spec!r}
result = slm_lab.train(spec, "noguard")
print("FAILED", result.metrics["num_failed_sessions"], "SESSIONS", len(result.sessions))
"""


@pytest.mark.parametrize("how", ["script", pytest.param("stdin", marks=pytest.mark.slow)])
def test_two_sessions_from_a_caller_without_main_guard(tmp_path: Path, how: str) -> None:
    code = NO_GUARD_SCRIPT.format(spec=reinforce_spec(sessions=2, max_frame=200))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if how == "script":
        script = tmp_path / "noguard.py"
        script.write_text(code)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    else:
        proc = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "FAILED 0 SESSIONS 2" in proc.stdout
    assert "EOFError" not in proc.stderr


def test_import_slm_lab_stays_light() -> None:
    code = "import sys, slm_lab; assert 'torch' not in sys.modules and 'slm_lab.api' not in sys.modules; slm_lab.train"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
