"""Resume: what a checkpoint restores, how the tables continue, trial-level resume, and a
real `slm-lab run` killed with SIGKILL (process group, spawned sessions included) three
times at random moments, then finished with `train@<run dir>`."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from process_helpers import PROGRESS_TIMEOUT_S, running
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.agent.memory.replay import Replay
from slm_lab.control import resume
from slm_lab.control import session as session_mod
from slm_lab.control.session import Session, load_checkpoint
from slm_lab.control.trial import Trial
from slm_lab.lib import pids
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import ReplaySpec

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def dqn_raw(max_frame: int = 4000, **meta) -> dict:
    raw = tiny_spec(
        {"name": "DQN", "training_start_step": 200, "training_frequency": 2,
         # still decaying at the checkpoints below: a restored schedule must give the same value
         "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "end_step": 3000}},
        {"name": "Replay", "batch_size": 32, "max_size": 1500},  # the ring wraps before 2000 frames
        net={"hid_layers": [32], "lr_scheduler_spec": {"name": "linear", "end_factor": 0.1}},
        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": max_frame},
        meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 1000, "eval_episodes": 2,
              "checkpoint_frequency": 1000, **meta},
    )
    raw["name"] = "resume_test"
    return raw


class Stop(Exception):
    """Ends a session run where the test wants it to end."""


def snapshot(s: Session) -> dict:
    """Everything a resumed session must have back; the RNG draws come last (they advance the generators)."""
    agent = s.agent
    return {
        "clock": (s.env.clock.frame, s.env.clock.episode),
        "counters": (agent.frame, agent.env_steps, agent.opt_step, agent.last_target_update),
        "explore_var": agent.schedule_values()["explore_var"],
        "lr": agent.optims["net"].param_groups[0]["lr"],
        "next": (s.next_log, s.next_eval, s.next_ckpt),
        "windows": (list(s.returns_window), list(s.eval_window), s.best_eval),
        "finished": list(s.env.episodes.finished),
        "pending": {k: [float(x) for x in v] for k, v in agent._pending_stats.items()},
        "nets": {k: {n: t.clone() for n, t in net.state_dict().items()} for k, net in agent.nets.items()},
        "optim": [t.clone() for st in agent.optims["net"].state_dict()["state"].values() for t in st.values()
                  if torch.is_tensor(t)],
        "memory": {k: np.array(v, copy=True) for k, v in agent.memory.state_dict().items()},
        "draws": (random.random(), float(np.random.random()), torch.rand(3), agent.rng.random(4).tolist()),
    }


def assert_same(a: dict, b: dict) -> None:
    for key in a:
        x, y = a[key], b[key]
        if key == "nets":
            for k in x:
                for n in x[k]:
                    assert torch.equal(x[k][n], y[k][n]), (k, n)
        elif key == "optim":
            assert len(x) == len(y) > 0 and all(torch.equal(p, q) for p, q in zip(x, y))
        elif key == "memory":
            assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x), "memory"
        elif key == "draws":
            assert x[0] == y[0] and x[1] == y[1] and torch.equal(x[2], y[2]) and x[3] == y[3], "rng"
        else:
            assert x == y, key


def test_a_checkpoint_restores_everything_the_session_had(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec = validate(dqn_raw())
    saved: dict = {}
    real_save, real_restore = session_mod.save_session_checkpoint, session_mod.restore_session

    def save_then_stop(s: Session) -> Path:
        path = real_save(s)
        if s.env.clock.frame >= 2000:
            saved.update(snapshot(s))
            raise Stop
        return path

    real_log_row = Session.log_row

    def log_row_drawing(self: Session) -> None:  # code that draws from the global generators while training
        random.random(), np.random.random(), torch.rand(1)
        real_log_row(self)

    monkeypatch.setattr(Session, "log_row", log_row_drawing)
    monkeypatch.setattr(session_mod, "save_session_checkpoint", save_then_stop)
    with pytest.raises(Stop):
        Session(spec, tmp_path / "s0").run()
    assert saved["clock"][0] == 2000 and saved["memory"]["size"] == 1500  # a full, wrapped ring
    assert 0.1 < saved["explore_var"] < 1.0 and saved["lr"] < 1e-3  # mid-schedule

    restored: dict = {}

    def restore_then_stop(s: Session, columns: list[str]) -> bool:
        assert real_restore(s, columns)
        restored.update(snapshot(s))
        raise Stop

    monkeypatch.setattr(session_mod, "restore_session", restore_then_stop)
    with pytest.raises(Stop):
        Session(spec, tmp_path / "s0", resume=True).run()
    assert_same(saved, restored)
    # the checkpoint is a weights-only file; the memory an npz beside it, named by the checkpoint
    state = load_checkpoint(tmp_path / "s0" / "model" / "checkpoint.pt")
    assert state["memory_files"] == ["memory_a0_f2000.npz"]
    assert [p.name for p in (tmp_path / "s0" / "model").glob("memory_*.npz")] == ["memory_a0_f2000.npz"]


def crash_after_row(monkeypatch: pytest.MonkeyPatch, at_frame: int) -> None:
    """Make the session die right after writing its train row at `at_frame`."""
    real = Session.log_row

    def log_row(self: Session) -> None:
        real(self)
        if self.env.clock.frame >= at_frame:
            raise Stop

    monkeypatch.setattr(Session, "log_row", log_row)


def frames(path: Path) -> list[int]:
    return pd.read_csv(path)["frame"].astype(int).tolist()


@pytest.mark.parametrize("crash_frame,from_checkpoint", [(2500, True), (500, False)])
def test_an_interrupted_session_continues_its_tables_without_gaps_or_duplicates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_frame: int, from_checkpoint: bool):
    spec = validate(dqn_raw(max_frame=3000))
    d = tmp_path / "s0"
    with monkeypatch.context() as m:
        crash_after_row(m, crash_frame)
        with pytest.raises(Stop):
            Session(spec, d).run()
    assert frames(d / "train.csv")[-1] == crash_frame  # a row written after the last checkpoint
    assert (d / "model" / "checkpoint.pt").is_file() == from_checkpoint
    (d / ".train.csv.killed.tmp").write_text("half a file")  # what a kill inside an atomic write leaves
    Session(spec, d, resume=True).run()
    assert frames(d / "train.csv") == list(range(500, 3001, 500))
    assert frames(d / "eval.csv") == [1000, 2000, 3000]
    body_frames = frames(d / "bodies.csv")  # per-body episodes: the kept stretch's rows, then the new ones
    assert body_frames[0] == 500 and body_frames[-1] == 3000 and body_frames == sorted(body_frames)
    train = pd.read_csv(d / "train.csv")
    assert train["opt_step"].is_monotonic_increasing and train["episode"].is_monotonic_increasing
    assert not list(d.rglob("*.tmp"))
    assert json.loads((d / "session_done.json").read_text())["frame"] == 3000
    assert (d / "metrics.json").is_file()
    assert [p.name for p in (d / "model").glob("memory_*.npz")] == ["memory_a0_f3000.npz"]


def test_replay_state_round_trips_a_wrapped_ring():
    rng = np.random.default_rng(0)
    mem = Replay(ReplaySpec(batch_size=4, max_size=10), rng)
    for t in range(7):  # 14 transitions into 10 slots: the ring has wrapped
        s = np.full((2, 3), t, dtype=np.float32)
        mem.add(s, np.array([t, t]), np.ones(2, np.float32), s + 1, np.zeros(2, bool), np.zeros(2, bool))
    state = mem.state_dict()
    other = Replay(ReplaySpec(batch_size=4, max_size=10), np.random.default_rng(0))
    other.load_state_dict({k: np.array(v) for k, v in state.items()})
    assert (other.size, other.head) == (10, 4)
    for k in mem.arrays:
        assert np.array_equal(mem.arrays[k], other.arrays[k])
    torch.testing.assert_close(mem.sample(), other.sample())
    with pytest.raises(ValueError, match="max_size"):
        Replay(ReplaySpec(max_size=11), rng).load_state_dict(state)


def test_on_policy_memory_is_not_saved_unless_asked(tmp_path: Path):
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000},
                    meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2})
    raw["name"] = "a2c_resume"
    Session(validate(raw), tmp_path / "s").run()
    state = load_checkpoint(tmp_path / "s" / "model" / "checkpoint.pt")
    assert state["memory_files"] == [""] and not list((tmp_path / "s" / "model").glob("*.npz"))
    assert state["frame"] == 1000


def test_trial_resume_keeps_finished_and_failed_sessions_and_can_extend_the_budget(tmp_path: Path):
    spec = validate(dqn_raw(max_frame=2000))
    trial_dir = tmp_path / "resume_test_2020_01_01_000000"
    Trial(spec, trial_dir, show_progress=False).run()
    session = trial_dir / "session_0"
    before = (session / "train.csv").read_bytes(), (session / "model" / "checkpoint.pt").read_bytes()

    again = resume.resume_trial(trial_dir, show_progress=False)  # complete: only re-aggregates
    assert ((session / "train.csv").read_bytes(), (session / "model" / "checkpoint.pt").read_bytes()) == before
    assert again["num_sessions"] == 1 and again["num_failed_sessions"] == 0

    longer = resume.load_saved_spec(trial_dir, "resume_test", ["env.0.max_frame=3000"])
    resume.resume_trial(trial_dir, longer, show_progress=False)
    assert frames(session / "train.csv") == list(range(500, 3001, 500))
    assert frames(session / "eval.csv") == [1000, 2000, 3000]
    assert json.loads((trial_dir / "spec.json").read_text())["env"][0]["max_frame"] == 3000

    (session / "error.txt").write_text("RuntimeError: the GPU fell off\n\nTraceback (most recent call last): ...\n")
    failed = resume.resume_trial(trial_dir, show_progress=False)
    assert failed["num_failed_sessions"] == 1 and failed["num_sessions"] == 0
    saved = json.loads((trial_dir / "trial_metrics.json").read_text())
    assert saved["failed"] == {"0": "RuntimeError: the GPU fell off"}


def test_run_folders_are_found_and_checked(tmp_path: Path, isolated_dirs: Path):
    isolated_dirs.mkdir()
    for name in ("dqn_2024_01_01_000000", "dqn_2024_01_02_000000", "dqn_2024_01_02_000000_1",
                 "dqn_big_2025_01_01_000000", "dqn_2026_01_01_000000"):
        (isolated_dirs / name).mkdir()
    for name in ("dqn_2024_01_01_000000", "dqn_2024_01_02_000000", "dqn_2024_01_02_000000_1", "dqn_big_2025_01_01_000000"):
        (isolated_dirs / name / "spec.json").write_text(json.dumps(dqn_raw() | {"name": name.rsplit("_", 4)[0]}))
    # the newest with a spec.json; another spec sharing the prefix and a folder without spec.json do not count
    assert resume.find_latest_run("dqn") == isolated_dirs / "dqn_2024_01_02_000000_1"
    with pytest.raises(SpecError, match="no run of 'ppo'"):
        resume.find_latest_run("ppo")
    with pytest.raises(SpecError, match="not a run folder"):
        resume.resolve_run_dir(str(isolated_dirs / "dqn_2026_01_01_000000"), "dqn")
    with pytest.raises(SpecError, match="is a run of 'dqn', not of 'ppo'"):
        resume.load_saved_spec(isolated_dirs / "dqn_2024_01_01_000000", "ppo")
    with pytest.raises(SpecError, match="only env.N.max_frame can change"):
        resume.load_saved_spec(isolated_dirs / "dqn_2024_01_01_000000", "dqn", ["agent.0.net.hid_layers=[8]"])
    run_dir = isolated_dirs / "dqn_2024_01_01_000000"
    spec = resume.load_saved_spec(run_dir, "dqn", ["env.0.max_frame=9000"])
    assert spec.env[0].max_frame == 9000
    with pids.run_lock(run_dir):  # a live run holds the folder: resuming it now is refused
        with pytest.raises(SpecError, match="in use"):
            resume.check_resumable(run_dir, spec)
    resume.check_resumable(run_dir, spec)


# --- the crash test ------------------------------------------------------------------------

CRASH_FRAMES = 4000


def _latest_checkpoint_frame(run_dir: Path) -> int:
    best = 0
    for path in run_dir.glob("session_*/model/checkpoint.pt"):
        try:
            best = max(best, int(load_checkpoint(path)["frame"]))
        except SpecError:  # being replaced right now
            pass
    return best


def _kill_after_progress(cmd: list[str], env: dict, run_dir_of, delay: float, timeout: float = PROGRESS_TIMEOUT_S) -> Path | None:
    """Start `cmd` in its own process group, wait until this attempt checkpointed new progress
    (or finished training), sleep `delay`, then SIGKILL the whole group. Returns the run dir."""
    start, run_dir, base = time.monotonic(), None, None
    # leaving `running` SIGKILLs the group; if it had finished, the next attempt resumes a complete run
    with running(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        while time.monotonic() - start < timeout and proc.poll() is None:
            run_dir = run_dir or run_dir_of()
            if run_dir is not None:
                frame = _latest_checkpoint_frame(run_dir)
                base = frame if base is None else base
                if frame > base or frame >= CRASH_FRAMES:
                    break
            time.sleep(0.1)
        time.sleep(delay)
    # every process of the group is gone: a spawned session would otherwise still write
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the killed run survived")
    return run_dir


def test_sigkilled_runs_resume_to_a_complete_consistent_folder(tmp_path: Path, isolated_dirs: Path):
    """Three SIGKILLs at seeded random moments (after fresh progress, then 0-2.5 s later: while
    training, evaluating, checkpointing or writing graphs), each followed by train@<dir>."""
    raw = dqn_raw(max_frame=CRASH_FRAMES, max_session=2)
    raw["agent"][0]["memory"]["max_size"] = 5000
    spec_file = write_spec_file(tmp_path / "spec.json", {"crash": raw})
    env = os.environ.copy()
    rng = random.Random(1234)

    def run_dir_of() -> Path | None:
        found = [p for p in isolated_dirs.glob("crash_*") if (p / "spec.json").is_file()] if isolated_dirs.exists() else []
        return found[0] if found else None

    run_dir = _kill_after_progress([SLM_LAB, "run", str(spec_file), "crash", "train"], env, run_dir_of, rng.uniform(0, 2.5))
    assert run_dir is not None, "the run never wrote its folder"
    for _ in range(2):
        _kill_after_progress([SLM_LAB, "run", str(spec_file), "crash", f"train@{run_dir}"], env, lambda: run_dir,
                             rng.uniform(0, 2.5))
    done = subprocess.run([SLM_LAB, "run", str(spec_file), "crash", "train@latest"], env=env, capture_output=True,
                          text=True, timeout=PROGRESS_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in isolated_dirs.iterdir() if p.is_dir()] == [run_dir.name]  # resumed in place, no new run

    metrics = json.loads((run_dir / "trial_metrics.json").read_text())
    assert metrics["trial"]["num_sessions"] == 2 and metrics["trial"]["num_failed_sessions"] == 0
    pd.read_csv(run_dir / "trial_metrics.csv")
    for name in ("report.html", "trial_graph_return.png", "spec.json", "log.txt"):
        assert (run_dir / name).is_file(), name
    for s in range(2):
        d = run_dir / f"session_{s}"
        train, evals = pd.read_csv(d / "train.csv"), pd.read_csv(d / "eval.csv")
        assert train["frame"].tolist() == list(range(500, CRASH_FRAMES + 1, 500)), f"session {s} train rows"
        assert evals["frame"].tolist() == list(range(1000, CRASH_FRAMES + 1, 1000)), f"session {s} eval rows"
        for df in (train, evals):
            assert df["frame"].is_unique and df["frame"].is_monotonic_increasing
            assert df["opt_step"].is_monotonic_increasing and df["episode"].is_monotonic_increasing
        assert math.isfinite(json.loads((d / "metrics.json").read_text())["strength"])
        assert json.loads((d / "session_done.json").read_text())["frame"] == CRASH_FRAMES
        assert list(d.glob("session_graph*.png")), "session graph"
        for name in ("latest.pt", "best.pt", "checkpoint.pt"):
            state = load_checkpoint(d / "model" / name)
            assert set(state.get("nets", state.get("agents", [{}])[0].get("nets", {}))) == {"net", "target_net"}
        ckpt = load_checkpoint(d / "model" / "checkpoint.pt")
        assert ckpt["frame"] == CRASH_FRAMES and (d / "model" / ckpt["memory_files"][0]).is_file()
    assert not list(run_dir.rglob("*.tmp"))
    assert "resuming crash" in (run_dir / "log.txt").read_text()
    assert not [p for p in pids.list_processes() if p.run_dir and Path(p.run_dir) == run_dir]


@pytest.mark.parametrize("case", ["one_agent_two_envs", "three_agents_one_env"])
def test_a_session_with_several_pairs_resumes_every_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str):
    a2c = {"algorithm": {"name": "A2C", "lam": 0.95, "training_frequency": 16},
           "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}}
    meta = {"max_session": 1, "log_frequency": 400, "eval_frequency": 800, "eval_episodes": 2, "checkpoint_frequency": 800}
    if case == "one_agent_two_envs":  # env 1 has 3 bodies to env 0's 2: its rows count 1.5x the frames
        agents, envs = 1, [{"name": "CartPole-v1", "num_envs": 2, "max_frame": 2400},
                           {"name": "slm_lab.env.variants:CartPoleVariant", "kwargs": {"length": 1.0}, "max_t": 500,
                            "num_envs": 3, "max_frame": 3600}]
    else:
        agents, envs = 3, [{"name": "pettingzoo:mpe2.simple_spread_v3", "max_frame": 2400,
                            "kwargs": {"N": 3, "max_cycles": 25, "continuous_actions": False}}]
    spec = validate({"name": "multi_resume", "agent": [a2c] * agents, "env": envs, "body": {"product": "outer"}, "meta": meta})
    d = tmp_path / "s0"
    with monkeypatch.context() as m:
        crash_after_row(m, 2000)  # after the checkpoint at 1600: rows 2000 must be cut and rewritten
        with pytest.raises(Stop):
            Session(spec, d).run()
    pairs = sorted(p.name for p in d.glob("a*_e*"))
    assert len(pairs) == 2 if case == "one_agent_two_envs" else 3
    before = {p: pd.read_csv(d / p / "train.csv") for p in pairs}
    # each env's frame at the checkpoint (frame 1600 of env 0; a multi-agent step counts 3 frames)
    ckpt = [env["frame"] for env in load_checkpoint(d / "model" / "checkpoint.pt")["envs"]]
    Session(spec, d, resume=True).run()
    for p in pairs:
        at = ckpt[int(p.split("_e")[1])]  # a pair's rows count its own env's frames
        train, evals = pd.read_csv(d / p / "train.csv"), pd.read_csv(d / p / "eval.csv")
        assert before[p]["frame"].iloc[-1] > at, p  # the crash left rows after the checkpoint
        kept = before[p][before[p]["frame"] <= at]
        pd.testing.assert_frame_equal(train.iloc[:len(kept)], kept)  # the rows up to the checkpoint are unchanged
        assert len(train) == 6 and len(evals) == 3 and train["frame"].is_monotonic_increasing, p  # no gap, no duplicate
        assert train["frame"].is_unique and train["frame"].iloc[-1] > 1.45 * at
        assert train["episode"].is_monotonic_increasing and train["episode"].iloc[-1] > kept["episode"].iloc[-1], p
        bodies = pd.read_csv(d / p / "bodies.csv")
        assert (bodies["frame"] <= at).sum() > 0 and bodies["frame"].is_monotonic_increasing, p
        assert (bodies["frame"] > at).sum() > 0, p  # the resumed stretch adds to the kept rows
    assert json.loads((d / "session_done.json").read_text())["frame"] >= 2400
