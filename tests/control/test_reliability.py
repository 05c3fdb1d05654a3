"""Issue 16 / 17.5: one test per hole (the fault sweep itself is tests/test_faults.py).

Run folders stay inside the data dir and never collide across processes; the exit status
tells the truth (1 with the failures listed, 130 on SIGTERM with the resume command);
strict JSON; NaN baselines are not cached; `kill` acts on this data dir's runs only and
takes their descendants along; a run's spec.json reruns as it is.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from process_helpers import PROGRESS_TIMEOUT_S, wait_for
from spec_helpers import tiny_spec, write_spec_file
from test_bad_input import run_cli

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def small_raw(**meta) -> dict:
    return tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
                     meta={"max_session": 1, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 1, **meta})


def _strict(text: str):
    def refuse(token: str):
        raise ValueError(f"bare {token} in JSON")

    return json.loads(text, parse_constant=refuse)


# --- paths -----------------------------------------------------------------------------------


def test_paths_outside_the_data_dir_are_refused(tmp_path: Path):
    from slm_lab.lib import io

    root = tmp_path / "data"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    assert io.inside(root / "run_1" / "x.json", root) == root / "run_1" / "x.json"
    for bad in (root / ".." / "escape", root / "link" / "x", tmp_path / "other"):
        with pytest.raises(io.PathEscapeError):
            io.inside(bad, root)
    for name in ("../escape", "a/b", ".."):
        with pytest.raises(io.PathEscapeError):
            io.new_run_dir(name, root)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.glob("escape*"))


def _make_dirs(root: str, n: int, start: float, out: "mp.Queue") -> None:
    from slm_lab.lib import io

    while time.time() < start:
        time.sleep(0.001)
    made, errors = [], []
    for _ in range(n):
        try:
            made.append(str(io.new_run_dir("race", Path(root))))
        except Exception as e:  # what the test counts: none may happen
            errors.append(repr(e))
    out.put((made, errors))


def test_run_folders_made_at_once_by_many_processes_never_collide(tmp_path: Path):
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    start = time.time() + 0.5
    procs = [ctx.Process(target=_make_dirs, args=(str(tmp_path), 20, start, out)) for _ in range(8)]
    for p in procs:
        p.start()
    results = [out.get(timeout=PROGRESS_TIMEOUT_S) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    made = [d for ds, _ in results for d in ds]
    errors = [e for _, es in results for e in es]
    assert errors == [] and len(made) == 160 and len(set(made)) == 160


# --- strict JSON and baselines ---------------------------------------------------------------


def test_the_lab_writes_strict_json(tmp_path: Path):
    import numpy as np

    from slm_lab.lib import io

    io.write_json(tmp_path / "m.json", {"a": math.nan, "b": [math.inf, 1.5], "c": np.float32("nan"), "d": np.array([1.0, -np.inf])})
    assert _strict((tmp_path / "m.json").read_text()) == {"a": None, "b": [None, 1.5], "c": None, "d": [1.0, None]}


def test_a_nan_random_baseline_is_never_cached(tmp_path: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch):
    from slm_lab.analysis import baseline

    baseline.clear_memo()
    monkeypatch.setattr(baseline, "measure_random_baseline",
                        lambda *a, **k: {"return": math.nan, "std": math.nan, "episodes": 0, "seed": 0})
    from slm_lab.spec.errors import SpecError

    with pytest.raises(SpecError, match="mean return is nan"):
        baseline.random_baseline("NoSuchEnvForBaselineTest-v0")
    cache = baseline.cache_dir() / baseline.CACHE_FILE_NAME
    assert not cache.exists() or "NoSuchEnvForBaselineTest" not in cache.read_text()
    baseline.clear_memo()


# --- exit status -------------------------------------------------------------------------------


def test_a_trial_whose_sessions_all_fail_exits_1_with_each_cause(tmp_path: Path, isolated_dirs: Path,
                                                                 capsys: pytest.CaptureFixture):
    raw = small_raw()
    raw["env"] = [{"name": "raising_env:SessionBrokenCartPole", "num_envs": 1, "max_frame": 400}]
    spec_file = write_spec_file(tmp_path / "s.json", {"broken": raw})
    code, out, err = run_cli(["run", str(spec_file), "broken", "train"], capsys)
    assert code == 1, err
    failed = [ln for ln in err.splitlines() if ln.startswith("failed:")]
    assert failed == ["failed:  session 0: RuntimeError: the simulator crashed"], err
    assert "Traceback" not in err


def test_a_runs_spec_json_reruns_as_it_is_without_a_name(tmp_path: Path, isolated_dirs: Path,
                                                          capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {"again": small_raw()})
    code, _, err = run_cli(["run", str(spec_file), "again", "dev"], capsys)
    assert code == 0, err
    first = next(p for p in isolated_dirs.iterdir() if p.is_dir())
    code, out, err = run_cli(["run", str(first / "spec.json"), "dev"], capsys)
    assert code == 0, err
    runs = sorted(p.name for p in isolated_dirs.iterdir() if p.is_dir())  # the data dir also holds the shared plotly.js
    assert len(runs) == 2 and all(r.startswith("again_") for r in runs)
    for path in isolated_dirs.rglob("*.json"):  # and every JSON file of both runs is strict
        _strict(path.read_text())


def test_sigterm_stops_a_trial_like_ctrl_c_and_says_how_to_resume(tmp_path: Path, isolated_dirs: Path):
    from slm_lab.lib import pids

    raw = small_raw(max_session=2, checkpoint_frequency=200)
    raw["env"][0]["max_frame"] = 10_000_000
    spec_file = write_spec_file(tmp_path / "s.json", {"long": raw})
    run = subprocess.Popen([SLM_LAB, "run", str(spec_file), "long", "train"], env=os.environ.copy(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        wait_for(lambda: len(list(isolated_dirs.glob("*/session_*/model/checkpoint.pt"))) == 2, "checkpoints")
        run_dir = next(p for p in isolated_dirs.iterdir() if p.is_dir())
        run.send_signal(signal.SIGTERM)  # to the run only, as `kill PID` or a scheduler does
        _, err = run.communicate(timeout=PROGRESS_TIMEOUT_S)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 130, err
    assert err.strip().splitlines()[-1] == ("interrupted; the run keeps its checkpoints. "
                                            f"Resume it with: slm-lab run {spec_file} long train@{run_dir}"), err
    assert "leaked" not in err and "Traceback" not in err, err
    assert all((d / "model" / "checkpoint.pt").is_file() for d in run_dir.glob("session_*"))
    wait_for(lambda: not [p for p in pids.list_processes(clean=False) if p.run_dir == str(run_dir)], "no live pid file", 20)
    assert not list(pids.pid_dir().glob("*.json")), "stale pid files"


# --- kill --------------------------------------------------------------------------------------


def test_kill_stops_only_this_data_dirs_runs_asks_first_and_takes_descendants(tmp_path: Path, isolated_dirs: Path,
                                                                             capsys: pytest.CaptureFixture):
    from slm_lab.lib import pids

    ours_dir, theirs_dir = isolated_dirs / "ours_2024_01_01_000000", tmp_path / "other_checkout" / "data" / "theirs"
    ours_dir.mkdir(parents=True)
    theirs_dir.mkdir(parents=True)
    # "ours" is a driver with a child of its own (as Ray's agents are); "theirs" belongs to another data dir
    ours = subprocess.Popen(["bash", "-c", "sleep 120 & wait"], start_new_session=True)
    theirs = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        wait_for(lambda: pids.descendants(ours.pid) != [], "the child", 10)
        child = pids.descendants(ours.pid)[0]
        pids.register("experiment", ours.pid, ours_dir, cmd="search driver")
        pids.register("trial", theirs.pid, theirs_dir, cmd="other run")

        code, out, err = run_cli(["kill"], capsys)  # no one to answer: nothing stopped
        assert code == 2 and "asks before stopping" in err
        assert f"will stop experiment {ours.pid}" in out and f"will stop child {child}" in out
        assert str(theirs.pid) not in out
        assert ours.poll() is None

        code, out, err = run_cli(["kill", "--yes"], capsys)
        assert code == 0, err
        assert f"stopped experiment {ours.pid}" in out
        ours.wait(timeout=PROGRESS_TIMEOUT_S)
        wait_for(lambda: not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2],
                 "the child to stop", 20)
        assert theirs.poll() is None, "a run of another data dir was stopped"
        assert [p.pid for p in pids.list_processes()] == [theirs.pid]
    finally:
        for proc in (ours, theirs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        pids.unregister(theirs.pid)


def test_search_and_benchmark_results_tell_failures_and_interrupts(tmp_path: Path, isolated_dirs: Path,
                                                                  capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch):
    """The exit status of a search follows its rows: an errored trial is 1, an unfinished search 130."""
    from slm_lab.control import run as run_module

    raw = small_raw()
    raw["search"] = {"agent.0.algorithm.gamma__uniform": [0.9, 0.99]}
    spec_file = write_spec_file(tmp_path / "s.json", {"srch": raw})
    rows = [{"trial": 0, "status": "ok", "values": {}, "strength": 1.0},
            {"trial": 1, "status": "error", "values": {}, "error": "ValueError: boom"}]
    for interrupted, expected in ((False, 1), (True, 130)):
        result = {"kind": "search", "run_dir": str(tmp_path / "exp"), "name": "srch", "search_keys": [], "rows": rows,
                  "interrupted": interrupted}
        monkeypatch.setattr(run_module, "run", lambda *a, result=result, **k: result)
        code, out, err = run_cli(["run", str(spec_file), "srch", "search"], capsys)
        assert code == expected, err
        if expected == 1:
            assert "failed:  trial 1: ValueError: boom" in err
        else:
            assert f"interrupted; resume with: slm-lab run {spec_file} srch search@{tmp_path / 'exp'}" in err


def test_the_memory_estimate_is_a_lower_bound_of_what_a_replay_really_allocates():
    """The refusal is honest: on CartPole the estimate is at most, and close to, what Replay holds."""
    import numpy as np

    from slm_lab.agent.memory.replay import Replay
    from slm_lab.lib import footprint
    from slm_lab.spec.schema import EnvSpec, ReplaySpec

    spec = ReplaySpec(max_size=5000)
    memory = Replay(spec, np.random.default_rng(0))
    obs = np.zeros((2, 4), np.float32)
    memory.add(obs, np.zeros(2, np.int64), np.zeros(2, np.float32), obs, np.zeros(2, bool), np.zeros(2, bool))
    real = sum(a.nbytes for a in memory.arrays.values())
    shape = footprint.observation_shape(EnvSpec(name="CartPole-v1"))
    assert shape == (4,)
    estimate = footprint.replay_bytes(spec, shape, atari=False)
    assert 0.5 * real <= estimate <= real
