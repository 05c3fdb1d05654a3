"""IQM and bootstrap confidence intervals (Agarwal et al. 2021)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slm_lab.analysis.stats import bootstrap_ci, iqm, mean_ci_band


def test_iqm_multiple_of_four_is_mean_of_middle_half():
    assert iqm([1, 2, 3, 100]) == pytest.approx(2.5)
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)  # order does not matter


def test_iqm_other_sizes_weight_boundary_values():
    # n=5: weights 0, .3, .4, .3, 0
    assert iqm([0, 10, 20, 30, 1000]) == pytest.approx(0.3 * 10 + 0.4 * 20 + 0.3 * 30)
    assert iqm([7.0]) == 7.0
    assert iqm([1.0, 3.0]) == pytest.approx(2.0)
    assert iqm([1.0, 2.0, 30.0]) == pytest.approx((1 + 4 * 2 + 30) / 6)


def test_iqm_ignores_nan_and_handles_empty_and_axis():
    assert iqm([1, 2, np.nan, 3, 100]) == pytest.approx(2.5)
    assert math.isnan(iqm([]))
    assert math.isnan(iqm([np.nan]))
    m = np.array([[1, 2, 3, 100], [4, 4, 4, 4]], dtype=float)
    np.testing.assert_allclose(iqm(m, axis=1), [2.5, 4.0])
    np.testing.assert_allclose(iqm(m.T, axis=0), [2.5, 4.0])


def test_bootstrap_ci_degenerate_cases():
    assert bootstrap_ci([5.0]) == (5.0, 5.0)
    low, high = bootstrap_ci([])
    assert math.isnan(low) and math.isnan(high)
    low, high = bootstrap_ci([3.0, 3.0, 3.0])
    assert low == high == 3.0


def test_bootstrap_ci_is_reproducible_and_ordered():
    x = np.random.default_rng(1).normal(size=12)
    a = bootstrap_ci(x, np.mean, rng=3)
    assert a == bootstrap_ci(x, np.mean, rng=3)
    assert a[0] < np.mean(x) < a[1]


def test_bootstrap_ci_accepts_stat_without_axis():
    x = np.arange(10.0)
    vec = bootstrap_ci(x, np.median, n=500, rng=0)
    loop = bootstrap_ci(x, lambda v: float(np.median(v)), n=500, rng=0)
    assert vec == pytest.approx(loop)


def test_stratified_bootstrap_resamples_within_strata():
    # two tasks on very different scales: every replicate keeps 3 values of each
    a, b = np.array([0.0, 1.0, 2.0]), np.array([100.0, 101.0, 102.0])
    low, high = bootstrap_ci([a, b], np.mean, n=2000, rng=0)
    assert 50.0 <= low <= 51.0 <= high <= 52.0
    # pooled without strata, a replicate can be all-small or all-large: a much wider interval
    low2, high2 = bootstrap_ci(np.concatenate([a, b]), np.mean, n=2000, rng=0)
    assert high2 - low2 > 3 * (high - low)


@pytest.mark.parametrize("stat", [np.mean, iqm])
def test_bootstrap_ci_covers_true_value_at_about_95_percent(stat):
    # a symmetric distribution: its population IQM equals its mean (3.0)
    rng = np.random.default_rng(12345)
    reps, covered = 200, 0
    for _ in range(reps):
        x = rng.normal(3.0, 2.0, size=30)
        low, high = bootstrap_ci(x, stat, n=1000, alpha=0.05, rng=rng)
        covered += low <= 3.0 <= high
    assert 0.88 <= covered / reps <= 0.99


def test_mean_ci_band_handles_missing_values_per_column():
    m = np.array([[1.0, 2.0, np.nan, np.nan], [3.0, 4.0, 5.0, np.nan], [5.0, 6.0, 7.0, np.nan]])
    mean, low, high = mean_ci_band(m)
    np.testing.assert_allclose(mean[:3], [3.0, 4.0, 6.0])
    assert np.all(low[:3] <= mean[:3]) and np.all(mean[:3] <= high[:3])
    assert low[0] < high[0]
    assert np.isnan(mean[3]) and np.isnan(low[3])
    one = mean_ci_band(np.array([[1.0, 2.0]]))
    np.testing.assert_allclose(one[1], one[2])
