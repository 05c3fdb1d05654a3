"""The lab's entry points: session_end, trial_end, metrics_table, experiment report."""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from analysis_helpers import assert_png, make_spec, write_session

from slm_lab.analysis import baseline, metrics_table, session_end, trial_end, write_experiment_report


def test_session_end_writes_metrics_and_graph(tmp_path):
    spec = make_spec()
    d = write_session(tmp_path / "session_0")
    m = session_end(d, spec)
    assert m["random_baseline"] == baseline.random_baseline("CartPole-v1")
    assert m["strength"] > 100 and m["num_checkpoints"] == 11
    on_disk = json.loads((d / "metrics.json").read_text())
    assert on_disk["strength"] == pytest.approx(m["strength"])
    assert_png(d / "session_graph.png")
    assert (d / "session_graph.html").exists()


def test_session_end_refresh_and_nan_metrics_are_null_in_json(tmp_path):
    spec = make_spec()
    d = write_session(tmp_path / "session_0", rows=1)  # first eval only: frame 0, no efficiency
    m = session_end(d, spec, final=False)
    assert math.isnan(m["sample_efficiency"])
    raw = (d / "metrics.json").read_text()
    assert "NaN" not in raw and json.loads(raw)["sample_efficiency"] is None
    assert (d / "session_graph.png").exists()


def test_session_end_survives_an_env_without_baseline(tmp_path, monkeypatch):
    def no_env(*args, **kwargs):
        raise RuntimeError("env 'Nope-v0' could not be made")

    monkeypatch.setattr(baseline, "measure_random_baseline", no_env)
    m = session_end(write_session(tmp_path / "session_0"), make_spec(env="Nope-v0"))
    assert math.isnan(m["strength"]) and m["final_return"] > 0


def test_trial_end_with_a_failed_session(tmp_path, make_trial):
    trial_dir, spec, dirs = make_trial(tmp_path / "trial", n_sessions=3)
    crashed = trial_dir / "session_3"
    crashed.mkdir()  # a crashed session may leave an empty folder
    for d in dirs:
        session_end(d, spec)
    t = trial_end(trial_dir, spec, [*dirs, crashed], {3: "loss became NaN at frame 4000"})
    assert t["num_sessions"] == 3 and t["num_failed_sessions"] == 1
    assert t["strength"] > 100 and 0 < t["consistency"] <= 1
    assert t["final_return_iqm_ci_low"] <= t["final_return_iqm"] <= t["final_return_iqm_ci_high"]

    saved = json.loads((trial_dir / "trial_metrics.json").read_text())
    assert saved["trial"]["strength"] == pytest.approx(t["strength"])
    assert set(saved["sessions"]) == {"0", "1", "2"}
    assert saved["failed"] == {"3": "loss became NaN at frame 4000"}

    csv = pd.read_csv(trial_dir / "trial_metrics.csv")
    assert list(csv["session"].astype(str)) == ["0", "1", "2", "3", "trial"]
    assert list(csv["status"].fillna("")) == ["ok", "ok", "ok", "failed", ""]
    assert csv["consistency"].iloc[-1] == pytest.approx(t["consistency"])

    for name in ("trial_graph_return", "trial_graph_strength"):
        assert_png(trial_dir / f"{name}.png")
        assert (trial_dir / f"{name}.html").exists()

    report = (trial_dir / "report.html").read_text()
    links = set(re.findall(r'(?:href|src)="([^"]+)"', report))
    for target in ("spec.json", "trial_metrics.csv", "trial_graph_return.png", "trial_graph_return.html",
                   "trial_graph_strength.png", "trial_graph_strength.html", "session_0/session_graph.png",
                   "session_2/session_graph.html"):
        assert target in links, target
    for link in links:
        assert (trial_dir / link).exists(), link
    assert "loss became NaN at frame 4000" in report
    assert "consistency" in report and "interquartile mean" in report


def test_trial_end_single_session(tmp_path, make_trial):
    trial_dir, spec, dirs = make_trial(tmp_path / "trial", n_sessions=1)
    t = trial_end(trial_dir, spec, dirs, {})
    assert t["num_sessions"] == 1
    assert math.isnan(t["consistency"])
    assert t["final_return_iqm"] == t["final_return_iqm_ci_low"] == t["final_return_iqm_ci_high"]
    assert (trial_dir / "report.html").exists()


def test_trial_end_all_failed(tmp_path, make_trial):
    trial_dir, spec, _ = make_trial(tmp_path / "trial", n_sessions=0)
    t = trial_end(trial_dir, spec, [], {0: "boom", 1: "<script>alert(1)</script>"})
    assert t["num_sessions"] == 0 and t["num_failed_sessions"] == 2 and math.isnan(t["strength"])
    report = (trial_dir / "report.html").read_text()
    assert "<script>alert(1)</script>" not in report and "&lt;script&gt;" in report


def test_metrics_table_lists_each_metric_with_its_meaning():
    from rich.console import Console

    t = {"strength": 12.3456, "consistency": float("nan"), "final_return_iqm": 50.0, "final_return_iqm_ci_low": 45.0,
         "final_return_iqm_ci_high": 55.0, "num_sessions": 4}
    table = metrics_table(t)
    console = Console(record=True, width=200)
    console.print(table)
    text = console.export_text()
    assert "strength" in text and "12.35" in text and "n/a" in text
    assert "50 [45, 55]" in text
    assert "margin of the eval return over a random policy" in text
    assert table.row_count == 4  # CI bounds fold into the IQM row


def test_experiment_report(tmp_path, make_trial):
    trial_dir, spec, dirs = make_trial(tmp_path / "exp" / "trial_0", n_sessions=2)
    trial_end(trial_dir, spec, dirs, {})
    df = pd.DataFrame({"trial": [0, 1], "agent.0.algorithm.gamma": [0.9, 0.99], "strength": [10.0, 30.0],
                       "stability": [0.9, 0.8], "trial_dir": ["trial_0", "trial_1"]})
    path = write_experiment_report(tmp_path / "exp", df, ["agent.0.algorithm.gamma__uniform"])
    text = path.read_text()
    assert 'href="trial_0/report.html"' in text and "experiment_graph.png" in text
    assert text.index(">30<") < text.index(">10<")  # ranked by strength
    assert_png(tmp_path / "exp" / "experiment_graph.png")
