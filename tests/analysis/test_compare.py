"""Comparing runs: the statistics against known answers, then `compare` on synthetic and real trials."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from process_helpers import PROGRESS_TIMEOUT_S
from analysis_helpers import assert_png, make_spec
from scipy.stats import mannwhitneyu

from slm_lab.analysis import compare, compare_graphs, stats
from slm_lab.analysis.report import trial_end

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


# --- statistics with known answers --------------------------------------------------------


def test_iqm_difference_ci_covers_the_true_difference_at_about_95_percent():
    rng = np.random.default_rng(1)
    covered = 0
    draws = 200
    for k in range(draws):  # normal samples: IQM = mean, so the true IQM difference is exactly 2
        a, b = rng.normal(0, 1, 20), rng.normal(2, 1, 20)
        _, low, high = stats.iqm_difference_ci(a, b, n=1000, rng=k)
        covered += low <= 2 <= high
    assert 0.88 <= covered / draws <= 0.99, covered / draws


def test_probability_of_improvement_is_half_for_identical_distributions():
    rng = np.random.default_rng(2)
    same = rng.normal(0, 1, 8)
    p, low, high = stats.probability_of_improvement(same, same.copy())
    assert p == 0.5 and low < 0.5 < high
    draws = [stats.probability_of_improvement(rng.normal(0, 1, 10), rng.normal(0, 1, 10), n=200)[0]
             for _ in range(200)]
    assert abs(np.mean(draws) - 0.5) < 0.03


def test_probability_of_improvement_is_mann_whitney_u_over_pairs_and_averages_tasks():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 7), np.round(rng.normal(0.5, 1, 9), 1)
    u = mannwhitneyu(b, a).statistic
    assert stats.probability_of_improvement(a, b)[0] == pytest.approx(u / (a.size * b.size))
    # two tasks: B always wins on one, always loses on the other -> 0.5
    p, _, _ = stats.probability_of_improvement([[0, 1, 2], [10, 11, 12]], [[5, 6, 7], [0, 1, 2]])
    assert p == 0.5


def test_mann_whitney_p_matches_scipy_and_the_exact_value():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 6), rng.normal(1, 1, 8)
    assert stats.mann_whitney_p(a, b) == pytest.approx(mannwhitneyu(b, a, alternative="two-sided").pvalue)
    # 5 vs 5, fully separated: two orderings of 252 are at least this extreme
    assert stats.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


def test_sessions_needed_follows_the_power_formula():
    a = np.array([-1.0, 1.0] * 10)  # mean 0, sample sd ~1.026
    b = a + 1.0
    s = a.std(ddof=1)
    expected = math.ceil(2 * ((1.959964 + 0.841621) * s / 1.0) ** 2 / (3 / math.pi))
    assert stats.sessions_needed(a, b) == expected
    assert stats.sessions_needed(a, a) == math.inf


def test_optimality_gap_and_performance_profile():
    assert stats.optimality_gap([0.5, 1.5, 1.0]) == pytest.approx(0.5 / 3)
    frac, low, high = stats.performance_profile([np.array([0.0, 0.5, 1.0, 1.5])], [0.25, 1.25])
    assert frac.tolist() == [0.75, 0.25] and (low <= frac).all() and (frac <= high).all()


def test_verdict_refuses_a_winner_with_three_sessions_and_calls_one_with_ten():
    a3, b3 = np.array([10.0, 11, 12]), np.array([50.0, 51, 52])
    few = compare.pair_stats("A", "B", "CartPole-v1", a3, b3)
    assert "cannot tell" in few["verdict"] and "cannot go below p = 0.1" in few["verdict"]
    rng = np.random.default_rng(5)
    a10, b10 = rng.normal(100, 10, 10), rng.normal(200, 10, 10)
    many = compare.pair_stats("A", "B", "CartPole-v1", a10, b10)
    assert many["verdict"].startswith("CartPole-v1: B is better than A")
    close = compare.pair_stats("A", "B", "CartPole-v1", rng.normal(100, 30, 5), rng.normal(105, 30, 5))
    assert "cannot tell" in close["verdict"] and f"about {int(close['sessions_needed'])} sessions" in close["verdict"]


def test_normalize_and_reference():
    refs = {"solved": {"CartPole-v1": 475}, "sources": {"x": {"results": {"PPO": {"Foo-v0": {"return": 9.0}}}}}}
    assert compare.reference_return("CartPole-v1", refs) == 475
    assert compare.reference_return("Foo-v0", refs) == 9.0
    assert math.isnan(compare.reference_return("Bar-v0", refs))
    assert compare.normalize(np.array([22.0, 475.0]), 22.0, 475.0).tolist() == [0.0, 1.0]


# --- compare on folders --------------------------------------------------------------------


def _trial(make_trial, folder: Path, n: int, shift: float = 0.0) -> Path:
    trial_dir, spec, dirs = make_trial(folder, n_sessions=n)
    if shift:
        from slm_lab.analysis.metrics import read_table
        from slm_lab.lib import io

        for d in dirs:
            df = read_table(d / "eval.csv").to_frame()
            df["return"] = df["return"] + shift
            io.write_csv(d / "eval.csv", df)
    trial_end(trial_dir, spec, dirs, {})
    return trial_dir


def _strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{path} holds {name}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_compare_two_trials_writes_json_graphs_and_report(tmp_path, make_trial):
    a = _trial(make_trial, tmp_path / "run_a", 3)
    b = _trial(make_trial, tmp_path / "run_b", 4, shift=-100.0)
    result = compare.compare([a, b], tmp_path / "cmp")
    data = _strict_json(tmp_path / "cmp" / "compare.json")
    pair = data["pairs"][0]
    assert pair["env"] == "CartPole-v1" and (pair["sessions_a"], pair["sessions_b"]) == (3, 4)
    assert pair["iqm_difference"] == pytest.approx(-100, abs=25)
    assert pair["iqm_difference_ci"][0] <= pair["iqm_difference"] <= pair["iqm_difference_ci"][1]
    assert pair["probability_of_improvement"] < 0.2 and pair["verdict"] == result["pairs"][0]["verdict"]
    assert set(data["runs"]) == {"run_a", "run_b"}
    for name in ("compare_returns", "sample_efficiency", "performance_profile"):
        assert_png(tmp_path / "cmp" / f"{name}.png")
        assert "Plotly.newPlot" in (tmp_path / "cmp" / f"{name}.html").read_text()
    report = (tmp_path / "cmp" / "report.html").read_text()
    assert pair["verdict"].split(":")[0] in report and 'src="performance_profile.png"' in report


def test_comparison_charts_hold_each_run_as_a_series(tmp_path, make_trial):
    runs = [compare.load_run(_trial(make_trial, tmp_path / n, 3, shift=s)) for n, s in (("a", 0.0), ("b", 50.0))]
    result = compare.compare_runs(runs)
    returns = compare_graphs.compare_returns_chart(runs)
    names = [i.name for i in returns.panels[0].items]
    assert {"a", "b", "a 95% CI", "b 95% CI", "random policy"} <= set(names)
    assert returns.panels[0].xlabel == "frames"
    eff = compare_graphs.sample_efficiency_chart(runs, {"solved": {"CartPole-v1": 475}})
    lines = {i.name: i for i in eff.panels[0].items if isinstance(i, compare_graphs.Line)}
    assert np.nanmax(lines["b"].y) > np.nanmax(lines["a"].y)  # b's curve sits 50 / (475 - 22) higher
    profile = compare_graphs.performance_profile_chart(result)
    curves = {i.name: np.asarray(i.y) for i in profile.panels[0].items if isinstance(i, compare_graphs.Line)}
    assert curves["a"][0] == 1.0 and curves["a"][-1] == 0.0 and (np.diff(curves["a"]) <= 0).all()


def test_compare_across_benchmark_folders_aggregates_normalized_scores(tmp_path, make_trial):
    for run, shift in (("bench_a", 0.0), ("bench_b", 30.0)):
        for i, env in enumerate(("CartPole-v1", "Acrobot-v1")):
            spec = make_spec(env=env)
            trial_dir, _, dirs = make_trial(tmp_path / run / f"trial_{i}", n_sessions=3, spec=spec)
            _trial_shift(dirs, shift)
            trial_end(trial_dir, spec, dirs, {})
    result = compare.compare([tmp_path / "bench_a", tmp_path / "bench_b"], tmp_path / "cmp")
    assert [p["env"] for p in result["pairs"]] == ["CartPole-v1", "Acrobot-v1"]
    across = result["across_envs"]["bench_b"]
    assert across["envs"] == ["CartPole-v1", "Acrobot-v1"] and across["probability_of_improvement"] > 0.5
    agg = result["runs"]["bench_b"]["aggregate"]
    for key in ("iqm", "mean", "median", "optimality_gap"):
        assert agg[key]["ci"][0] <= agg[key]["value"] <= agg[key]["ci"][1]


def _trial_shift(dirs, shift):
    from slm_lab.analysis.metrics import read_table
    from slm_lab.lib import io

    for d in dirs:
        df = read_table(d / "eval.csv").to_frame()
        df["return"] = df["return"] + shift
        io.write_csv(d / "eval.csv", df)


def test_compare_refuses_folders_it_cannot_read(tmp_path, make_trial):
    a = _trial(make_trial, tmp_path / "run_a", 2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(compare.CompareError, match="holds no session folders"):
        compare.compare([a, (tmp_path / "empty").resolve()], tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, env=env, timeout=PROGRESS_TIMEOUT_S)


def test_compare_command_on_two_real_short_trials(tmp_path):
    from spec_helpers import tiny_spec, write_spec_file

    env = {**os.environ, "SLM_LAB_DATA_DIR": str(tmp_path / "data"), "SLM_LAB_CACHE_DIR": str(tmp_path / "cache"),
           "COLUMNS": "200"}
    meta = {"max_session": 2, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2}
    spec_env = {"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000}
    specs = {"a2c_a": tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                                env=spec_env, meta=meta),
             "a2c_b": tiny_spec({"name": "A2C", "training_frequency": 32}, {"name": "OnPolicyBatchReplay"},
                                env=spec_env, meta=meta)}
    spec_file = write_spec_file(tmp_path / "specs.json", specs)
    for name in specs:
        assert _cli("run", str(spec_file), name, "train", env=env).returncode == 0
    runs = sorted(p for p in (tmp_path / "data").iterdir() if p.is_dir())
    out = tmp_path / "data" / "cmp"
    result = _cli("compare", *map(str, runs), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert "IQM B - A" in result.stdout and "verdict: CartPole-v1: cannot" in result.stdout
    data = _strict_json(out / "compare.json")
    assert data["pairs"][0]["sessions_a"] == 2 and math.isfinite(data["pairs"][0]["iqm_difference"])
    for name in ("compare_returns", "sample_efficiency", "performance_profile"):
        assert_png(out / f"{name}.png")
    bad = _cli("compare", str(runs[0]), env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: compare:")
