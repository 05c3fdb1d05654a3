"""Session and trial metrics against hand-computed curves, edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_helpers import table

from slm_lab.analysis.metrics import (
    align_on_frame, consistency, curve_metrics, efficiency, final_return_ma, read_table, session_metrics,
    stability, trial_metrics,
)

# the worked example of docs/METRICS.md: R_rand = 10
FRAMES = [0, 1000, 2000, 3000, 4000]
STEPS = [0, 250, 500, 750, 1000]
RETURNS = [10, 30, 70, 50, 90]  # strengths 0, 20, 60, 40, 80


def test_curve_metrics_hand_computed():
    m = curve_metrics(RETURNS, FRAMES, STEPS, random_return=10.0)
    assert m["strength"] == pytest.approx(40.0)
    assert m["max_strength"] == pytest.approx(80.0)
    assert m["final_strength"] == pytest.approx(80.0)
    # frame 0 is skipped: (20/1000 + 60/2000 + 40/3000 + 80/4000) / 200
    assert m["sample_efficiency"] == pytest.approx((0.02 + 0.03 + 40 / 3000 + 0.02) / 200)
    assert m["training_efficiency"] == pytest.approx((20 / 250 + 60 / 500 + 40 / 750 + 80 / 1000) / 200)
    # one drop of 20 against a total strength of 200
    assert m["stability"] == pytest.approx(0.9)
    assert m["final_return"] == 90.0


def test_never_beats_random_gives_nan_efficiency_and_stability():
    m = curve_metrics([5, 8, 10], [100, 200, 300], [1, 2, 3], random_return=10.0)
    assert m["strength"] == pytest.approx(-7 / 3)
    assert m["max_strength"] == 0.0
    assert m["final_strength"] == 0.0
    assert math.isnan(m["sample_efficiency"])
    assert math.isnan(m["training_efficiency"])
    assert math.isnan(m["stability"])


def test_dip_below_random_does_not_act_as_a_negative_weight():
    # strengths -10 (t=100) and +30 (t=200): only the positive part weighs
    assert efficiency([-10, 30], [100, 200]) == pytest.approx(1 / 200)
    assert stability([-10, 30]) == 1.0
    # a collapse larger than everything gained: stability below 0
    assert stability([10, -100]) == pytest.approx(1 - 110 / 10)


def test_single_checkpoint():
    m = curve_metrics([50.0], [1000], [10], random_return=10.0)
    assert m["strength"] == m["max_strength"] == m["final_strength"] == 40.0
    assert m["sample_efficiency"] == pytest.approx(1 / 1000)
    assert m["training_efficiency"] == pytest.approx(1 / 10)
    assert m["stability"] == 1.0
    # a single checkpoint at frame 0 has no time to divide by
    m0 = curve_metrics([50.0], [0], [0], random_return=10.0)
    assert math.isnan(m0["sample_efficiency"]) and math.isnan(m0["training_efficiency"])
    assert m0["stability"] == 1.0


def test_nan_returns_are_ignored_rows():
    with_nan = curve_metrics([np.nan, 30, np.nan, 70], [0, 1000, 1500, 2000], [0, 1, 2, 3], 10.0)
    without = curve_metrics([30, 70], [1000, 2000], [1, 3], 10.0)
    assert with_nan == pytest.approx(without)
    empty = curve_metrics([np.nan], [0], [0], 10.0)
    assert all(math.isnan(v) for v in empty.values())


def test_missing_opt_steps_give_nan_training_efficiency_only():
    m = curve_metrics([30, 70], [1000, 2000], [np.nan, np.nan], 10.0)
    assert math.isnan(m["training_efficiency"])
    assert m["sample_efficiency"] == pytest.approx((20 / 1000 + 60 / 2000) / 80)


def test_session_metrics_from_tables_and_final_return_ma_fallback():
    ev = table(FRAMES, opt_step=STEPS)
    ev["return"] = RETURNS
    tr = table([0, 2000, 4000], opt_step=[0, 500, 1000])
    tr["return_ma"] = [np.nan, 40.0, np.nan]  # last non-NaN counts
    m = session_metrics(ev, tr, 10.0)
    assert m["strength"] == pytest.approx(40.0)
    assert m["final_return_ma"] == 40.0
    assert m["num_checkpoints"] == 5 and m["last_frame"] == 4000
    assert m["random_baseline"] == 10.0
    # no training moving average: fall back to eval's return_ma, then to eval's return
    no_ma = table([0, 1000])
    assert final_return_ma(no_ma, ev) == 90.0
    ev_ma = ev.assign(return_ma=np.linspace(1, 5, 5))
    assert final_return_ma(no_ma, ev_ma) == 5.0
    assert math.isnan(final_return_ma(no_ma, table([0])))


def test_read_table_missing_file_and_single_row(tmp_path):
    empty = read_table(tmp_path / "nope.csv")
    assert len(empty) == 0 and "return_ma" in empty.columns
    one = table([500], opt_step=[3])
    one["return"] = 12.0
    one.to_csv(tmp_path / "eval.csv", index=False)
    df = read_table(tmp_path / "eval.csv")
    assert len(df) == 1 and df["return"][0] == 12.0 and np.isnan(df["loss"][0])
    assert all(df[c].dtype == np.float64 for c in df.columns)  # every column as numbers
    m = session_metrics(df, empty, 10.0)
    assert m["strength"] == 2.0 and m["final_return_ma"] == 12.0


def test_align_on_frame_snaps_jittered_checkpoints():
    grid, m = align_on_frame([([0, 1000, 2000], [1, 2, 3]), ([4, 1004, 2004, 3004], [10, 20, 30, 40])])
    np.testing.assert_allclose(grid, [2, 1002, 2002, 3004])
    np.testing.assert_allclose(m[0], [1, 2, 3, np.nan])
    np.testing.assert_allclose(m[1], [10, 20, 30, 40])
    # identical frames stay exact; NaN values are dropped first
    grid, m = align_on_frame([([0, 10], [1, np.nan]), ([0, 10], [3, 4])])
    np.testing.assert_allclose(grid, [0, 10])
    np.testing.assert_allclose(m, [[1, np.nan], [3, 4]])
    grid, m = align_on_frame([([], []), ([], [])])
    assert grid.size == 0 and m.shape == (2, 0)


def test_consistency_hand_computed_and_edge_cases():
    # means 12, 22 (sum 34); sample std of each column sqrt(8)
    assert consistency([[10, 20], [14, 24]]) == pytest.approx(1 - 4 * math.sqrt(8) / 34)
    assert consistency([[10, 20], [10, 20]]) == 1.0
    # only checkpoints all sessions share count
    assert consistency([[10, 20, 99], [14, 24, np.nan]]) == pytest.approx(1 - 4 * math.sqrt(8) / 34)
    assert math.isnan(consistency([[10, 20]]))  # one session
    assert math.isnan(consistency([[-1, -2], [-3, -4]]))  # never beats random
    assert math.isnan(consistency([[1, np.nan], [np.nan, 2]]))  # nothing shared


def test_trial_metrics_means_consistency_and_iqm():
    s1 = curve_metrics([30, 50], [1000, 2000], [1, 2], 10.0) | {"final_return_ma": 45.0}
    s2 = curve_metrics([34, 54], [1004, 2004], [1, 2], 10.0) | {"final_return_ma": np.nan}
    curves = [([1000, 2000], [20, 40]), ([1004, 2004], [24, 44])]
    t = trial_metrics([s1, s2], curves, num_failed=1, random_return=10.0)
    assert t["strength"] == pytest.approx((30 + 34) / 2)
    assert t["final_return_ma"] == 45.0  # NaN sessions are skipped in the mean
    assert t["consistency"] == pytest.approx(1 - 4 * math.sqrt(8) / (22 + 42))
    assert t["final_return_iqm"] == pytest.approx(52.0)
    assert t["final_return_iqm_ci_low"] >= 50.0 and t["final_return_iqm_ci_high"] <= 54.0
    assert t["num_sessions"] == 2 and t["num_failed_sessions"] == 1


def test_trial_metrics_single_session_is_degenerate():
    s = curve_metrics([30, 50], [1000, 2000], [1, 2], 10.0) | {"final_return_ma": 45.0}
    t = trial_metrics([s], [([1000, 2000], [20, 40])])
    assert math.isnan(t["consistency"])
    assert t["final_return_iqm"] == t["final_return_iqm_ci_low"] == t["final_return_iqm_ci_high"] == 50.0


def test_trial_metrics_no_sessions():
    t = trial_metrics([], [], num_failed=2)
    assert t["num_sessions"] == 0 and t["num_failed_sessions"] == 2
    assert math.isnan(t["strength"]) and math.isnan(t["final_return_iqm"]) and math.isnan(t["consistency"])


def test_worked_example_of_the_docs():
    runs = {"A": [10, 30, 70, 50, 90], "B": [12, 20, 60, 80, 100], "C": [8, 40, 60, 70, 80]}
    sessions = [curve_metrics(r, FRAMES, STEPS, 10.0) for r in runs.values()]
    b, c = sessions[1], sessions[2]
    assert b["strength"] == pytest.approx(44.4) and b["stability"] == 1.0
    assert b["sample_efficiency"] == pytest.approx(0.080833 / 220, rel=1e-4)
    assert c["strength"] == pytest.approx(41.6)
    assert c["sample_efficiency"] == pytest.approx(0.0925 / 210)
    t = trial_metrics(sessions, [(FRAMES, np.array(r) - 10.0) for r in runs.values()], random_return=10.0)
    assert t["strength"] == pytest.approx(42.0)
    assert t["stability"] == pytest.approx(2.9 / 3)
    assert t["consistency"] == pytest.approx(1 - 86.0975 / 210, abs=1e-5)
    assert t["final_return_iqm"] == pytest.approx(90.0)
    assert (t["final_return_iqm_ci_low"], t["final_return_iqm_ci_high"]) == pytest.approx((80.0, 100.0))
