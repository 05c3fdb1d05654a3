"""Benchmark mode: one spec over its spec_params envs, one trial each, and benchmark.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.control.benchmark import benchmark_markdown, load_references, prepare_benchmark, reference_key
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import validate

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def bench_spec(envs: list, **meta) -> dict:
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    env={"name": "${env}", "num_envs": 2, "max_frame": 1000},
                    meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2, **meta})
    raw["spec_params"] = {"env": envs}
    return raw


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=PROGRESS_TIMEOUT_S)


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[1:]]
    return {r["env"]: r for r in rows}


def test_benchmark_runs_each_env_and_writes_benchmark_md(tmp_path: Path, isolated_dirs: Path):
    path = write_spec_file(tmp_path / "bench.json", {"a2c_bench": bench_spec(["CartPole-v1", "Acrobot-v1"])})
    assert cli("check", str(path)).returncode == 0
    result = cli("run", str(path), "a2c_bench", "benchmark")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in isolated_dirs.iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.startswith("a2c_bench_")
    bench = runs[0]
    md = (bench / "benchmark.md").read_text()
    assert f"benchmark: {bench / 'benchmark.md'}" in result.stdout
    rows = table_rows(md)
    assert list(rows) == ["CartPole-v1", "Acrobot-v1"]
    for i, env in enumerate(rows):
        trial = bench / f"trial_{i}"
        saved = json.loads((trial / "spec.json").read_text())
        assert saved["env"][0]["name"] == env and saved["meta"]["resolved"]["spec_params"] == {"env": env}
        metrics = json.loads((trial / "trial_metrics.json").read_text())["trial"]
        assert rows[env]["status"] == "ok" and rows[env]["frames"] == "1k"
        assert rows[env]["strength"] == f"{metrics['strength']:.1f}"
        assert rows[env]["trial"] == f"[trial_{i}](trial_{i}/report.html)"
    # the published references sit next to the lab's numbers (A2C, exact env ids)
    assert rows["CartPole-v1"]["solved at"] == "475.0" and rows["Acrobot-v1"]["solved at"] == "-100.0"
    # 1k frames stay far from the zoo's 500 ± 0: the cell says so
    assert rows["CartPole-v1"]["SB3 zoo"] == "500.0 ± 0.0 (500k) **▼ below**"
    assert rows["CartPole-v1"]["SLM Lab v5"] == "496.7" and rows["Acrobot-v1"]["SLM Lab v5"] == "-84.0"
    assert rows["Acrobot-v1"]["SB3 zoo"] == "–" and rows["CartPole-v1"]["CleanRL"] == "–"
    assert "References for A2C" in md


def test_benchmark_input_errors_exit_2_and_write_nothing(tmp_path: Path, isolated_dirs: Path):
    plain = bench_spec(["CartPole-v1"])
    del plain["spec_params"]
    plain["env"][0]["name"] = "CartPole-v1"
    path = write_spec_file(tmp_path / "b.json", {"plain": plain, "typo": bench_spec(["CartPole-v1", "Acrobat-v1"])})
    for name, fragment in [("plain", "error: plain: benchmark mode needs spec_params"),
                           ("typo", "error: typo: env[0].name: \"Acrobat-v1\" is not a registered Gymnasium id")]:
        result = cli("run", str(path), name, "benchmark")
        assert result.returncode == 2 and result.stderr.startswith(fragment), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not isolated_dirs.exists() or not any(isolated_dirs.iterdir())


def test_prepare_crosses_every_spec_params_list(tmp_path: Path):
    raw = bench_spec(["CartPole-v1", "Acrobot-v1"])
    raw["spec_params"]["frames"] = [600, 800]
    raw["env"][0]["max_frame"] = "${frames}"
    path = write_spec_file(tmp_path / "b.json", {"b": raw})
    specs = prepare_benchmark(str(path), "b")
    assert [(s.env[0].name, s.env[0].max_frame) for s in specs] == [
        ("CartPole-v1", 600), ("CartPole-v1", 800), ("Acrobot-v1", 600), ("Acrobot-v1", 800)]
    assert specs[1].meta.resolved["spec_params"] == {"env": "CartPole-v1", "frames": 800}
    with pytest.raises(SpecError, match="spec 'nope' not found"):
        prepare_benchmark(str(path), "nope")


def test_markdown_names_references_by_algorithm_and_lists_failed_trials():
    raw = tiny_spec({"name": "DoubleDQN"}, {"name": "PrioritizedReplay"}, env={"name": "LunarLander-v3", "max_frame": 300000})
    raw["meta"] = {"max_session": 4, "resolved": {"spec_params": {"env": "LunarLander-v3"}}}
    spec = validate(raw)
    assert reference_key(spec) == "DoubleDQN+PER"
    rows = [{"trial": 0, "status": "error", "trial_dir": "trial_0", "env": "LunarLander-v3", "error": "boom"}]
    md = benchmark_markdown("ddqn_per", [spec], rows, load_references())
    row = table_rows(md)["LunarLander-v3"]
    assert row["SLM Lab v5"] == "265.9" and row["solved at"] == "200.0" and row["strength"] == "–"
    assert row["frames"] == "300k" and row["SB3 zoo"] == "–"  # SB3 published LunarLander-v2 only
    assert "- trial_0 (LunarLander-v3): error boom" in md


def test_reference_marks_below_within_above_only_where_a_spread_is_published():
    from slm_lab.control.benchmark import reference_mark

    ref = {"return": 100.0, "std": 10.0}
    ci = lambda low, high: {"final_return_iqm_ci_low": low, "final_return_iqm_ci_high": high}  # noqa: E731
    assert reference_mark(ci(50, 89), ref) == "below"
    assert reference_mark(ci(50, 95), ref) == "within"  # the CI reaches into return - std
    assert reference_mark(ci(80, 120), ref) == "within"
    assert reference_mark(ci(111, 130), ref) == "above"
    assert reference_mark(ci(50, 60), {"return": 100.0}) == ""  # no spread published: no claim
    assert reference_mark(ci(float("nan"), float("nan")), ref) == ""
