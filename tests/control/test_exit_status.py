"""A run's exit status tells the truth: 0 all sessions finished, 1 some failed (listed), 130 when
Ctrl-C or SIGTERM stopped it (at a safe point, with a checkpoint, and a line saying how to resume)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from process_helpers import PROGRESS_TIMEOUT_S, running, wait_for
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.lib.seeding import derive_seed

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def cli(*args: str, timeout: float = PROGRESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def ppo_raw(frames: int, sessions: int) -> dict:
    return tiny_spec({"name": "PPO", "training_frequency": 64, "minibatch_size": 64, "training_epoch": 1},
                     {"name": "OnPolicyBatchReplay"}, env={"name": "CartPole-v1", "num_envs": 2, "max_frame": frames},
                     meta={"max_session": sessions, "log_frequency": 500, "eval_frequency": 2000, "eval_episodes": 1})


def test_a_trial_with_a_failed_session_exits_1_and_lists_it(tmp_path: Path, isolated_dirs: Path):
    seed = 5
    raw = tiny_spec(
        {"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
        # session 1's env turns its rewards NaN (tests/diverging_env.py): that session diverges
        env={"name": "diverging_env:NaNRewardCartPole", "num_envs": 1, "max_frame": 1500,
             "kwargs": {"nan_seed": derive_seed(seed, 0, 1), "nan_after": 100}},
        meta={"max_session": 2, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2, "seed": seed},
    )
    spec = write_spec_file(tmp_path / "spec.json", {"diverge": raw})
    env = {**os.environ, "PYTHONPATH": f"{Path(__file__).resolve().parents[1]}:{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([SLM_LAB, "run", str(spec), "diverge", "train"], capture_output=True, text=True,
                            timeout=PROGRESS_TIMEOUT_S, env=env)
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:  ")]
    assert len(failed) == 1 and failed[0].startswith("failed:  session 1: diverged at frame"), result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_at_a_safe_point_exits_130_and_train_at_resumes_to_exit_0(tmp_path: Path, isolated_dirs: Path):
    # three sessions on at most two workers: the third must not start after the stop
    spec = write_spec_file(tmp_path / "spec.json", {"long": ppo_raw(400_000, 3)})
    with running([SLM_LAB, "run", str(spec), "long", "train"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True, env=os.environ.copy()) as proc:
        run_dir = wait_for(lambda: next((r for r in isolated_dirs.glob("long_*") if (r / "session_0" / "train.csv").is_file()), None),
                           "the run's first row", proc=proc)
        proc.send_signal(signal.SIGTERM)  # to the run only, as `kill PID` or a scheduler does
        out, err = proc.communicate(timeout=PROGRESS_TIMEOUT_S)
    assert proc.returncode == 130, err
    assert "Resume it with: slm-lab run" in err and f"train@{run_dir}" in err, err
    assert "Traceback" not in err and "leaked semaphore" not in err, err
    assert not (run_dir / "session_2" / "train.csv").exists(), "a session started after the stop"
    assert (run_dir / "session_0" / "model" / "checkpoint.pt").is_file() or any(run_dir.glob("session_0/model/*.pt"))
    assert not list((Path(os.environ["SLM_LAB_CACHE_DIR"])).glob("run/*.pid")), "stale pid files"

    # the resume runs with a smaller budget for the test: the saved spec allows env.N.max_frame
    resumed = cli("run", str(spec), "long", f"train@{run_dir}", "-s", "env.0.max_frame=4000", timeout=600)
    assert resumed.returncode == 0, resumed.stderr
