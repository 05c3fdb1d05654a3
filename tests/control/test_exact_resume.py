"""Exact resume: a run SIGKILLed at random moments and resumed the way `train@<run dir>` does
(control/resume.py's resume_trial) writes the same tables as the run left alone, every
column but wall time and frames/s, for DQN and PPO on CartPole and SAC on Pendulum.

Each attempt runs in a forked child (no second torch import: a few seconds a family) that is
killed with SIGKILL after a seeded random delay: while acting, training, appending a row,
evaluating or writing a checkpoint. The kills are chained: the run is resumed after each
one, then finished, and only then compared, so every resume must have been exact."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec
from slm_lab.analysis import random_baseline
from slm_lab.control import resume
from slm_lab.control.trial import Trial
from slm_lab.lib.layout import RunLayout
from slm_lab.lib.tables import read_table
from slm_lab.spec.loader import validate

KILLS = int(os.environ.get("SLM_LAB_EXACT_RESUME_KILLS", "5"))  # more for the figures in docs/OPERATIONS.md
META = {"max_session": 1, "log_frequency": 100, "eval_frequency": 200, "eval_episodes": 2, "checkpoint_frequency": 100}


def family_spec(family: str) -> dict:
    if family == "dqn":
        raw = tiny_spec({"name": "DQN", "training_start_step": 50, "training_frequency": 2,
                         "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "end_step": 600}},
                        {"name": "Replay", "batch_size": 16, "max_size": 300}, net={"hid_layers": [16]},
                        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 800}, meta=META)
    elif family == "ppo":  # sync sub-envs with observation normalization: the other CartPole path
        raw = tiny_spec({"name": "PPO", "training_frequency": 24, "minibatch_size": 16, "training_epoch": 2},
                        {"name": "OnPolicyBatchReplay"}, net={"hid_layers": [16]},
                        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 800, "normalize_obs": True,
                             "vectorization": "sync"}, meta=META)
    else:  # reward normalization carries each sub-env's running return
        raw = tiny_spec({"name": "SAC", "training_start_step": 50},
                        {"name": "Replay", "batch_size": 16, "max_size": 1000}, net={"hid_layers": [16]},
                        env={"name": "Pendulum-v1", "num_envs": 1, "max_frame": 500, "normalize_reward": True},
                        meta={**META, "log_frequency": 50})
    raw["name"] = f"exact_{family}"
    return raw


def in_child(work: Callable[[], object]) -> int:
    """Fork and run `work` in the child; the child's exit status says whether it raised."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


EXITED: dict[int, int] = {}  # pid -> exit status, for children reaped while polling


def running(pid: int) -> bool:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        EXITED[pid] = os.waitstatus_to_exitcode(status)
    return not done


def training_window(pid: int, checkpoint: Path) -> tuple[float, float]:
    """Wait for the child; the seconds from its start to its first and to its last checkpoint."""
    start, seen = time.monotonic(), []
    while running(pid):
        if (now := stamp(checkpoint)) is not None and (not seen or seen[-1][1] != now):
            seen.append((time.monotonic() - start, now))
        time.sleep(0.01)
    assert EXITED.pop(pid) == 0, "the uninterrupted run failed"
    assert len(seen) >= 3, "the uninterrupted run wrote too few checkpoints to kill between"
    return seen[0][0], seen[-1][0]


def stamp(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def wait(pid: int) -> int:
    if pid in EXITED:
        return EXITED.pop(pid)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    session = RunLayout(run_dir).session(0)
    return {p.name: read_table(p).to_frame().drop(columns=["wall_t", "fps"], errors="ignore") for p in session.tables if p.is_file()}


@pytest.mark.parametrize("family", ["dqn", "ppo", "sac"])
def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_tables(family: str, tmp_path: Path, isolated_dirs: Path):
    spec = validate(family_spec(family))
    alone, killed = tmp_path / "alone", tmp_path / "killed"
    random_baseline(spec.env[0])  # measured once and cached, so the timing below is the run's own
    first, last = training_window(in_child(lambda: Trial(spec, alone, show_progress=False).run()),
                                  RunLayout(alone).session(0).checkpoint)
    rng = random.Random(f"exact {family}")
    ckpt = RunLayout(killed).session(0).checkpoint
    checkpoints: list[int | None] = []
    for k in range(KILLS):
        work = (lambda: Trial(spec, killed, show_progress=False).run()) if k == 0 else \
            (lambda: resume.resume_trial(killed, show_progress=False))
        before = stamp(ckpt)
        pid = in_child(work)
        # once this attempt has checkpointed fresh progress (so the chain moves on, whatever the
        # machine's load), a random moment within the next stretch of training, evaluating,
        # appending rows, checkpointing or finishing
        deadline = time.monotonic() + PROGRESS_TIMEOUT_S
        while stamp(ckpt) == before and running(pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.35 * (last - first)))
        if pid not in EXITED:  # else it had finished: the next attempt resumes a complete run
            os.kill(pid, signal.SIGKILL)
        wait(pid)
        checkpoints.append(stamp(ckpt))
    assert wait(in_child(lambda: resume.resume_trial(killed, show_progress=False))) == 0
    assert len({c for c in checkpoints if c is not None}) >= 2, "the kills never landed after fresh checkpoints"
    fresh = sum(1 for before, after in zip([None, *checkpoints], checkpoints) if after is not None and after != before)
    print(f"exact resume {family}: {KILLS} kills, {fresh} after a fresh checkpoint")
    expected, got = tables(alone), tables(killed)
    assert set(expected) == set(got) and "train.csv" in got and "eval.csv" in got
    for name in expected:
        assert len(expected[name]) >= 3, name
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True, obj=f"{family} {name}")
