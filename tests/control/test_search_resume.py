"""search@<experiment dir>: a real search killed with SIGKILL (process group) after its first
trial finished and while its second was between checkpoints, then resumed; bad input; and
the Optuna searcher of a resume (drawn trials first, kept scores told to the sampler)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.control.run import prepare
from slm_lab.lib import pids
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import load_spec
from slm_lab.spec.search import parse_search, sample_random

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")
MAX_FRAME = 2000
LR_KEY = "agent.0.net.optim_spec.lr__loguniform"


def search_raw(name: str = "sr", max_trial: int = 3) -> dict:
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    net={"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 0.001}},
                    env={"name": "CartPole-v1", "num_envs": 2, "max_frame": MAX_FRAME},
                    # one trial at a time (it wants every CPU), so trial 1 is caught between checkpoints
                    meta={"max_session": 1, "max_trial": max_trial, "seed": 7, "log_frequency": 250,
                          "eval_frequency": 500, "eval_episodes": 2, "search_resources": {"cpu": os.cpu_count() or 1}})
    raw["search"] = {LR_KEY: [1e-4, 1e-2]}
    raw["name"] = name
    return raw


def cli(*args: str, timeout: float = PROGRESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=timeout)


def files_of(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under `folder` with its mtime and content."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def record_row(exp: Path, index: int) -> dict | None:
    path = exp / "search_trials" / f"trial_{index}.json"
    return json.loads(path.read_text()).get("row") if path.is_file() else None


def kill_mid_search(cmd: list[str], data: Path, sig: int = signal.SIGKILL, timeout: float = PROGRESS_TIMEOUT_S) -> Path:
    """Run `cmd` in its own process group; once trial 0 has its result recorded and trial 1 its
    first checkpoint, send `sig` to the group (SIGINT: what Ctrl-C in a terminal does). Returns
    the experiment folder once no process holds it."""
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    exp = None
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            exp = exp or next((p for p in data.glob("sr_*") if (p / "search_plan.json").is_file()), None) if data.exists() else None
            if exp is not None and record_row(exp, 0) and (exp / "trial_1/session_0/model/checkpoint.pt").is_file():
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the search {'ended' if proc.poll() is not None else 'timed out'} before the moment to kill it")
    finally:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=PROGRESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # it did not stop: end it, so it does not train on
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    assert exp is not None
    # the Ray worker running trial 1 dies with the driver's Ray: wait until nothing holds a folder
    deadline = time.monotonic() + 120
    while any(pids.is_locked(d) for d in (exp, exp / "trial_1")):
        assert time.monotonic() < deadline, "processes of the killed search survived"
        time.sleep(0.1)
    return exp


def test_a_sigkilled_search_resumes_to_one_row_per_trial(tmp_path: Path, isolated_dirs: Path):
    spec_file = write_spec_file(tmp_path / "spec.json", {"sr": search_raw()})
    exp = kill_mid_search([SLM_LAB, "run", str(spec_file), "sr", "search"], isolated_dirs)

    # the moment of the kill: trial 0 done, trial 1 part-way, trial 2 never started
    assert record_row(exp, 0)["status"] == "ok" and record_row(exp, 1) is None
    assert not (exp / "trial_1/session_0/session_done.json").exists()
    assert not (exp / "trial_2").exists()
    assert not (exp / "experiment_df.csv").exists() and not (exp / "search_done.json").exists()
    plan = json.loads((exp / "search_plan.json").read_text())
    # the plan holds the draws the spec makes (same seed, same values), recorded before any trial ran
    drawn = sample_random(parse_search(search_raw()["search"]), 3, 7)
    assert [plan["trials"][str(i)]["values"] for i in range(3)] == drawn
    trial_0 = files_of(exp / "trial_0")
    plan_text = (exp / "search_plan.json").read_bytes()

    done = cli("run", str(spec_file), "sr", "search@latest")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in isolated_dirs.iterdir() if p.is_dir()] == [exp.name]  # resumed in place
    assert files_of(exp / "trial_0") == trial_0  # the finished trial was kept, not rerun
    assert (exp / "search_plan.json").read_bytes() == plan_text

    df = pd.read_csv(exp / "experiment_df.csv")
    assert sorted(df["trial"]) == [0, 1, 2] and (df["status"] == "ok").all()
    by_trial = df.set_index("trial")
    for i in range(3):
        trial = exp / f"trial_{i}"
        saved = json.loads((trial / "spec.json").read_text())
        lr = drawn[i][LR_KEY]
        assert saved["agent"][0]["net"]["optim_spec"]["lr"] == pytest.approx(lr)  # the planned config
        assert by_trial.loc[i, "agent.0.net.optim_spec.lr"] == pytest.approx(lr)
        metrics = json.loads((trial / "trial_metrics.json").read_text())["trial"]
        assert metrics["num_sessions"] == 1 and metrics["strength"] == pytest.approx(by_trial.loc[i, "strength"])
        assert json.loads((trial / "session_0/session_done.json").read_text())["frame"] == MAX_FRAME
        frames = pd.read_csv(trial / "session_0/train.csv")["frame"].tolist()
        assert frames == list(range(250, MAX_FRAME + 1, 250)), f"trial {i} train rows"
    # trial 1 went on from its checkpoint, it did not start over
    assert re.search(r"session 0 resumes (exactly )?at frame", (exp / "trial_1/session_0/session.log").read_text())
    best_trial = int(df.iloc[0]["trial"])  # ranked: the strongest first
    assert best_trial == by_trial["strength"].idxmax()
    best = load_spec(exp / "best_spec.json", "sr")
    assert not best.search and best.agent[0].net.optim_spec.lr == pytest.approx(drawn[best_trial][LR_KEY])
    assert (exp / "search_done.json").is_file() and (exp / "report.html").is_file()
    assert "resuming search sr" in (exp / "log.txt").read_text()

    # finished now: a second resume is refused and changes nothing
    before = files_of(exp)
    again = cli("run", str(spec_file), "sr", f"search@{exp}")
    assert again.returncode == 2 and again.stderr.startswith("error: search@") and "finished already" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert files_of(exp) == before


@pytest.mark.slow
def test_an_optuna_search_stopped_with_ctrl_c_resumes_its_draws_then_draws_the_rest(tmp_path: Path, isolated_dirs: Path):
    """Ctrl-C: Tune stops trial 1 and reports no completion for it, so it resumes; Optuna's draw
    for it is recorded and reused; the last trial is drawn by the resumed sampler."""
    raw = search_raw()
    raw["meta"]["search"] = "optuna"
    spec_file = write_spec_file(tmp_path / "spec.json", {"sr": raw})
    exp = kill_mid_search([SLM_LAB, "run", str(spec_file), "sr", "search"], isolated_dirs, sig=signal.SIGINT)
    assert record_row(exp, 1) is None and not (exp / "search_done.json").exists()
    stopped = pd.read_csv(exp / "experiment_df.csv").set_index("trial")  # Ctrl-C writes what ran
    assert stopped.loc[1, "status"] == "stopped" and 1 in stopped.index and 2 not in stopped.index
    drawn_1 = json.loads((exp / "search_trials/trial_1.json").read_text())["config"][LR_KEY]
    trial_0 = files_of(exp / "trial_0")

    done = cli("run", str(spec_file), "sr", f"search@{exp}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert files_of(exp / "trial_0") == trial_0
    df = pd.read_csv(exp / "experiment_df.csv").set_index("trial")
    assert sorted(df.index) == [0, 1, 2] and (df["status"] == "ok").all()
    assert df.loc[1, "agent.0.net.optim_spec.lr"] == pytest.approx(drawn_1)  # the draw made before Ctrl-C
    assert re.search(r"session 0 resumes (exactly )?at frame", (exp / "trial_1/session_0/session.log").read_text())
    records = {i: json.loads((exp / f"search_trials/trial_{i}.json").read_text()) for i in range(3)}
    assert all(r["config"] and r["row"]["status"] == "ok" for r in records.values())
    assert (exp / "search_done.json").is_file() and (exp / "best_spec.json").is_file()


def _folder(data: Path, name: str, spec_name: str, *files: str) -> Path:
    folder = data / name
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(search_raw(spec_name)))
    for f in files:
        (folder / f).write_text("{}")
    return folder


def test_bad_search_resume_input_exits_2_and_writes_nothing(tmp_path: Path, isolated_dirs: Path):
    spec_file = write_spec_file(tmp_path / "spec.json", {"sr": search_raw()})
    train_run = _folder(isolated_dirs, "sr_2020_01_01_000000", "sr")  # a train run: no search plan
    other = _folder(isolated_dirs, "other_2020_01_01_000000", "other", "search_plan.json")
    done = _folder(isolated_dirs, "sr_2020_01_02_000000", "sr", "search_plan.json", "search_done.json")
    before = files_of(isolated_dirs)
    for mode, fragment in [(f"search@{train_run}", f"error: search@{train_run}: not a search folder"),
                           (f"search@{other}", f"error: {other} is a run of 'other', not of 'sr'"),
                           (f"search@{done}", f"error: search@{done}: {done} is finished already"),
                           ("search@latest", f"error: search@latest: {done} is finished already"),
                           (f"search@{tmp_path / 'nowhere'}", "error: search@"),
                           ("search@", "error: mode 'search@' needs an experiment folder")]:
        result = cli("run", str(spec_file), "sr", mode)
        assert result.returncode == 2 and result.stderr.startswith(fragment), (mode, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert files_of(isolated_dirs) == before

    (done / "search_done.json").unlink()  # a search that was interrupted
    with pytest.raises(SpecError, match="a resumed search runs its saved spec and plan"):
        prepare(str(spec_file), "sr", f"search@{done}", ["meta.max_trial=8"])
    with pids.run_lock(done):  # its driver still runs
        with pytest.raises(SpecError, match="in use by a running search"):
            prepare(str(spec_file), "sr", f"search@{done}")
    with pytest.raises(SpecError, match="search@latest: no run of 'ppo'"):
        from slm_lab.control.search_resume import resolve_experiment_dir

        resolve_experiment_dir("latest", "ppo")
    with pytest.raises(SpecError, match="not a search plan"):  # "{}": no version, not a plan of this lab
        prepare(str(spec_file), "sr", f"search@{done}")


def test_a_resumed_optuna_search_runs_its_draws_first_and_learns_from_kept_trials():
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from slm_lab.control.searchers import numbered_searcher as _numbered_searcher

    space = {"lr__loguniform": tune.loguniform(1e-4, 1e-2), "n__choice": tune.choice([0, 1, 2])}
    kept = [({"lr__loguniform": 1e-3, "n__choice": 1}, {"status": "ok", "strength": 50.0}),
            ({"lr__loguniform": 5e-3, "n__choice": 0}, {"status": "stopped"}),
            ({"lr__loguniform": 2e-4, "n__choice": 2}, {"status": "error"})]
    draws: list[tuple[int, dict]] = []
    inner = OptunaSearch(metric="strength", mode="max", seed=0)
    searcher = _numbered_searcher(inner, start=5, fixed=[{"lr__loguniform": 3e-3, "n__choice": 2, "trial_index": 3}],
                                  told=kept, on_draw=lambda i, c: draws.append((i, c)))
    assert searcher.set_search_properties(None, None, space)
    states = [t.state.name for t in inner._ot_study.trials]
    assert states == ["COMPLETE", "PRUNED", "FAIL"]  # the kept trials, told before any new draw
    assert inner._ot_study.best_value == 50.0
    assert searcher.suggest("a") == {"lr__loguniform": 3e-3, "n__choice": 2, "trial_index": 3}  # drawn before
    new = searcher.suggest("b")
    assert new["trial_index"] == 5 and 1e-4 <= new["lr__loguniform"] <= 1e-2 and new["n__choice"] in (0, 1, 2)
    assert draws == [(5, {k: v for k, v in new.items() if k != "trial_index"})]  # recorded before Tune runs it
    searcher.on_trial_complete("a", {"final": True, "strength": 70.0})  # the resumed trial's score is learned too
    searcher.on_trial_complete("b", {"final": True, "strength": 10.0})
    assert sorted(t.value for t in inner._ot_study.trials if t.state.name == "COMPLETE") == [10.0, 50.0, 70.0]
