"""Search mode on Ray Tune: a real tiny search on a local Ray (through the CLI), Optuna with
ASHA on a Ray head started here (--ray-address), a jobs file, and early stopping.

The Ray head is started with `ray start --head --block` and stopped by ending that process
(it takes its Ray processes with it): `ray stop` would stop every Ray on the machine.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.spec.loader import load_spec

BIN = Path(sys.executable).parent
SLM_LAB = str(BIN / "slm-lab")
RAY_NOISE = ("Started a local Ray", "dashboard", "Token authentication", "View detailed results", "usage stats",
             "To visualize your results", "Configuration for experiment", "Trial status", "╭")


def a2c_spec(max_frame: int = 2000, **meta) -> dict:
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    net={"hid_layers": [32], "optim_spec": {"name": "Adam", "lr": 0.001}},
                    env={"name": "CartPole-v1", "num_envs": 2, "max_frame": max_frame},
                    meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 1000, "eval_episodes": 2, **meta})
    return raw


def cli(*args: str, env: dict | None = None, timeout: float = PROGRESS_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=timeout)


def only_run(data: Path) -> Path:
    runs = [p for p in data.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def check_experiment_folder(exp: Path, spec_name: str, n_trials: int, paths: list[str]) -> pd.DataFrame:
    """What every search leaves: ranked experiment_df, trial folders, a valid best spec, graph and report."""
    df = pd.read_csv(exp / "experiment_df.csv")
    assert len(df) == n_trials and sorted(df["trial"]) == list(range(n_trials))
    for col in ("trial", "status", *paths, "strength", "final_return_ma", "consistency", "trial_dir"):
        assert col in df.columns, col
    ok = df[df["status"] == "ok"]
    assert len(ok) >= 1
    assert list(ok["strength"]) == sorted(ok["strength"], reverse=True)  # ranked, best first
    assert list(df.index[df["status"] == "ok"]) == list(range(len(ok)))  # finished trials first
    for _, row in df.iterrows():
        trial = exp / row["trial_dir"]
        saved = json.loads((trial / "spec.json").read_text())
        assert saved["meta"]["resolved"]["trial"] == row["trial"]
        assert not saved["search"]  # a trial runs a concrete spec
        if row["status"] == "ok":
            metrics = json.loads((trial / "trial_metrics.json").read_text())["trial"]
            assert metrics["strength"] == pytest.approx(row["strength"], nan_ok=True)
            assert (trial / "report.html").is_file() and (trial / "session_0" / "eval.csv").is_file()
    best = df.iloc[0]
    spec = load_spec(exp / "best_spec.json", spec_name)  # a ready-to-run spec file: loads and validates
    assert not spec.search
    best_saved = json.loads((exp / best["trial_dir"] / "spec.json").read_text())
    assert spec.agent[0].model_dump(mode="json") == best_saved["agent"][0]
    assert (exp / "experiment_graph.png").stat().st_size > 5000 and (exp / "experiment_graph.html").is_file()
    report = (exp / "report.html").read_text()
    assert "trial_0/report.html" in report and "experiment_graph.png" in report
    return df


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Ray head on this machine with 2 CPUs, advertised on 127.0.0.1, token auth on."""
    ports = {}
    for name in ("port", "ray-client-server-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                 "metrics-export-port", "runtime-env-agent-port", "node-manager-port", "object-manager-port"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports[name] = s.getsockname()[1]
    cmd = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false",
           "--node-ip-address", "127.0.0.1", "--disable-usage-stats", *(f"--{k}={v}" for k, v in ports.items())]
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    log = tmp_path_factory.mktemp("ray_head") / "head.log"
    head = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"127.0.0.1:{ports['port']}"
    try:
        deadline = time.monotonic() + PROGRESS_TIMEOUT_S
        while subprocess.run([str(BIN / "ray"), "status", "--address", address], capture_output=True, env=env).returncode:
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield address
    finally:
        head.terminate()  # --block: the head stops the Ray processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, 9)  # the process group this fixture created
            head.wait()


def test_search_on_local_ray_through_the_cli(tmp_path: Path, isolated_dirs: Path):
    raw = a2c_spec(max_trial=2, seed=3)
    raw["search"] = {"agent.0.net.optim_spec.lr__loguniform": [1e-4, 1e-2],
                     "agent": [{"algorithm": {"gamma__grid_search": [0.9, 0.99]}}]}
    path = write_spec_file(tmp_path / "search.json", {"a2c_search": raw})
    result = cli("run", str(path), "a2c_search", "search")
    assert result.returncode == 0, result.stderr[-3000:]
    for noise in RAY_NOISE:  # Ray starts quietly
        assert noise not in result.stdout + result.stderr, noise
    exp = only_run(isolated_dirs)
    assert exp.name.startswith("a2c_search_")
    # 2 grid values x max_trial 2 draws of lr = 4 trials
    df = check_experiment_folder(exp, "a2c_search", 4, ["agent.0.net.optim_spec.lr", "agent.0.algorithm.gamma"])
    assert (df["status"] == "ok").all()
    assert sorted(df["agent.0.algorithm.gamma"]) == [0.9, 0.9, 0.99, 0.99]
    assert df["agent.0.net.optim_spec.lr"].between(1e-4, 1e-2).all() and df["agent.0.net.optim_spec.lr"].nunique() == 4
    for _, row in df.iterrows():
        saved = json.loads((exp / row["trial_dir"] / "spec.json").read_text())
        assert saved["agent"][0]["algorithm"]["gamma"] == row["agent.0.algorithm.gamma"]
        assert saved["agent"][0]["net"]["optim_spec"]["lr"] == pytest.approx(row["agent.0.net.optim_spec.lr"])
    assert "trials ranked by strength" in result.stdout and f"results: {exp}" in result.stdout
    assert f"best spec: {exp / 'best_spec.json'}" in result.stdout
    assert "started a local Ray" in (exp / "log.txt").read_text()
    # the best spec runs as it is
    check = cli("check", str(exp / "best_spec.json"))
    assert check.returncode == 0, check.stderr


def test_optuna_search_with_asha_joins_a_ray_head(ray_head: str, tmp_path: Path, isolated_dirs: Path):
    from slm_lab.control.run import prepare, run

    # evaluations every 250 frames: a trial ASHA stops at its first rung (500) still has a checkpoint
    raw = a2c_spec(max_frame=2500, max_trial=2, eval_frequency=250, search="optuna", search_scheduler="asha",
                   search_resources={"cpu": 1})
    raw["search"] = {"agent.0.net.optim_spec.lr__loguniform": [1e-4, 1e-2], "agent.0.algorithm.gamma__uniform": [0.9, 0.999]}
    path = write_spec_file(tmp_path / "optuna.json", {"a2c_optuna": raw})
    spec, mode = prepare(str(path), "a2c_optuna", "search")
    result = run(spec, mode, ray_address=ray_head)
    exp = Path(result["run_dir"])
    log = (exp / "log.txt").read_text()
    assert f"joined the Ray cluster at {ray_head}" in log and "started a local Ray" not in log
    df = check_experiment_folder(exp, "a2c_optuna", 2, ["agent.0.net.optim_spec.lr", "agent.0.algorithm.gamma"])
    assert set(df["status"]) <= {"ok", "stopped"}
    assert df["agent.0.net.optim_spec.lr"].between(1e-4, 1e-2).all()
    assert df["agent.0.algorithm.gamma"].between(0.9, 0.999).all()
    assert result["best_trial"] == df.iloc[0]["trial"] and Path(result["best_spec"]).is_file()
    # trials reported intermediate results (frame, return_ma) while running, for ASHA
    progress = [pd.read_csv(p) for p in (exp / "ray_tune").glob("*/progress.csv")]
    assert len(progress) == 2
    assert any((~p["final"].astype(bool)).any() and p["frame"].min() < 2500 for p in progress)


def test_jobs_file_runs_a_search_and_a_train(ray_head: str, tmp_path: Path, isolated_dirs: Path):
    search = a2c_spec(max_frame=1500, max_trial=1)
    search["search"] = {"agent.0.algorithm.gamma__choice": [0.9, 0.99]}
    path = write_spec_file(tmp_path / "specs.json", {"s": search, "t": a2c_spec(max_frame=1000)})
    jobs = tmp_path / "experiments.json"
    jobs.write_text(json.dumps({str(path): {"s": "search", "t": "train"}}))
    result = cli("run", "--jobs", str(jobs), env={"RAY_ADDRESS": ray_head})  # the env var joins the head too
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p for p in isolated_dirs.iterdir() if p.is_dir())
    assert [r.name.rsplit("_", 4)[0] for r in runs] == ["s", "t"]
    assert len(pd.read_csv(runs[0] / "experiment_df.csv")) == 1
    assert (runs[1] / "trial_metrics.json").is_file() and not (runs[1] / "experiment_df.csv").exists()
    out = result.stdout
    assert out.index("s: trials ranked by strength") < out.index("trial metrics")  # a summary per job, in order


def test_bad_search_input_exits_2_and_writes_nothing(tmp_path: Path, isolated_dirs: Path):
    raw = a2c_spec()
    searched = {**raw, "search": {"agent.0.algorithm.gamma__uniform": [0.9, 0.99]}}
    path = write_spec_file(tmp_path / "specs.json", {"plain": raw, "searched": searched})
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for args, fragment in [(("plain", "search"), "error: plain: search mode needs a search block"),
                           (("searched", "search", "--ray-address", f"127.0.0.1:{closed}"),
                            f"error: no Ray cluster answers at 127.0.0.1:{closed}"),
                           (("searched", "search", "--ray-address", "nohost"), "error: --ray-address 'nohost' is not host:port")]:
        result = cli("run", str(path), *args)
        assert result.returncode == 2 and result.stderr.startswith(fragment), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not isolated_dirs.exists() or not any(isolated_dirs.iterdir())


def test_progress_report_follows_the_slowest_session_and_stops_with_tune():
    from slm_lab.control.tune_trials import ProgressReport

    sent: list[dict] = []
    report = ProgressReport(2, index=5, max_frame=3000, report=sent.append)
    report(0, {"frame": 1000, "return_ma": 20.0})
    assert sent == []  # session 1 has not started: no frame all sessions reached
    report(1, {"frame": 500, "return_ma": math.nan})
    report(1, {"frame": 1000, "return_ma": 30.0})
    report(0, {"frame": 2000, "return_ma": 40.0})  # the slowest is still at 1000: nothing new
    report(0, {"frame": 3000, "return_ma": 50.0})
    report(1, {"frame": 3000, "return_ma": 60.0})  # max_frame: left to the final report
    assert sent == [{"trial_index": 5, "final": False, "frame": 500, "return_ma": 20.0},
                    {"trial_index": 5, "final": False, "frame": 1000, "return_ma": 25.0}]

    def stopped(result: dict) -> None:
        raise SystemExit(0)  # what tune.report does once Tune has stopped the trial

    with pytest.raises(SystemExit):
        ProgressReport(1, 0, 3000, stopped)(0, {"frame": 500, "return_ma": 1.0})


@pytest.mark.slow
def test_asha_stops_a_bad_trial_and_its_session_processes(ray_head: str, tmp_path: Path, isolated_dirs: Path):
    """Two sessions per trial run in a spawn pool inside the Ray worker; one trial at a time
    (2 CPUs each). Episodes cut at 10 steps can't match the first trial's return at the first
    rung, so ASHA stops trial 1, whose session processes must stop writing at once."""
    from slm_lab.control.experiment import run_experiment
    from slm_lab.spec.loader import validate

    raw = a2c_spec(max_frame=8000, max_session=2, search_scheduler="asha", search_resources={"cpu": 2})
    raw["name"] = "asha"
    raw["search"] = {"env.0.max_t__grid_search": [500, 10]}
    result = run_experiment(validate(raw), ray_head)
    exp = Path(result["run_dir"])
    df = pd.read_csv(exp / "experiment_df.csv").set_index("trial")
    assert df.loc[0, "status"] == "ok" and df.loc[1, "status"] == "stopped"
    assert df.loc[1, "frame"] < 8000
    stopped = exp / "trial_1"
    tables = [stopped / f"session_{s}" / "train.csv" for s in range(2)]
    before = [t.read_text() for t in tables]
    time.sleep(3)
    assert [t.read_text() for t in tables] == before  # nothing trains on
    assert all(pd.read_csv(t)["frame"].max() < 8000 for t in tables)
    # the stopped trial was still analyzed from the frames it ran
    assert (stopped / "trial_metrics.json").is_file() and math.isfinite(df.loc[1, "final_return_ma"])


def test_train_runs_its_sessions_as_ray_tasks_on_a_local_head(ray_head: str, tmp_path: Path, isolated_dirs: Path):
    """`train --ray-address`: each session a Ray task; the run folder as a local run's."""
    raw = a2c_spec(max_trial=1, seed=4)
    raw.pop("search", None)
    raw["meta"]["max_session"] = 2
    path = write_spec_file(tmp_path / "ray_train.json", {"a2c_on_ray": raw})
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    result = subprocess.run([str(BIN / "slm-lab"), "run", str(path), "a2c_on_ray", "train", "--ray-address", ray_head],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next(isolated_dirs.glob("a2c_on_ray_*"))
    for s in (0, 1):
        session = run_dir / f"session_{s}"
        assert (session / "train.csv").is_file() and (session / "metrics.json").is_file(), s
        assert (session / "model" / "latest.pt").is_file(), s
    assert (run_dir / "trial_metrics.json").is_file()
    assert "sent to the Ray cluster" in (run_dir / "log.txt").read_text()
