"""Robust aggregates across seeds: the interquartile mean and bootstrap confidence intervals.

Following Agarwal, Schwarzer, Castro, Courville & Bellemare (2021), "Deep Reinforcement
Learning at the Edge of the Statistical Precipice" (NeurIPS): with a handful of seeds,
report the interquartile mean (IQM) rather than the mean or median, and an interval
estimate from a stratified bootstrap (runs resampled with replacement within each task).
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Sequence

import numpy as np

ArrayLike = Sequence[float] | np.ndarray


def iqm(x: ArrayLike, axis: int = -1) -> float | np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the values (NaNs ignored).

    The sorted values are read as n equal slices of probability 1/n; each value is weighted
    by how much of its slice lies between the 25th and 75th percentiles. For n divisible
    by 4 this is the plain mean of the middle half; for other n the boundary values count
    partly (n=5: weights 0, .3, .4, .3, 0), so the statistic moves smoothly with the data.
    n = 1 gives the value itself, n = 2 the mean. No values gives NaN.
    Works along `axis` on arrays (used by the bootstrap).
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    a = np.moveaxis(a, axis, -1)
    nan = np.isnan(a)
    if nan.any():
        return _iqm_nan(a, nan)
    n = a.shape[-1]
    if n == 0:
        out = np.full(a.shape[:-1], np.nan)
        return float(out) if out.ndim == 0 else out
    out = np.sort(a, axis=-1) @ _iqm_weights(n)
    return float(out) if np.ndim(out) == 0 else out


def _iqm_weights(n: int) -> np.ndarray:
    lo = np.arange(n) / n
    hi = np.arange(1, n + 1) / n
    overlap = np.clip(np.minimum(hi, 0.75) - np.maximum(lo, 0.25), 0.0, None)
    return overlap / 0.5


def _iqm_nan(a: np.ndarray, nan: np.ndarray) -> float | np.ndarray:
    flat = a.reshape(-1, a.shape[-1])
    mask = nan.reshape(-1, a.shape[-1])
    out = np.array([iqm(row[~m]) if (~m).any() else np.nan for row, m in zip(flat, mask)])
    out = out.reshape(a.shape[:-1])
    return float(out) if out.ndim == 0 else out


def _strata(x: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    """One 1-D array is one stratum; a list of 1-D arrays is one stratum per task."""
    if isinstance(x, np.ndarray) and x.ndim <= 1:
        groups = [x]
    elif len(x) > 0 and all(np.ndim(g) == 0 for g in x):
        groups = [np.asarray(x)]
    else:
        groups = list(x)
    strata = [np.asarray(g, dtype=np.float64).reshape(-1) for g in groups]
    return [s[~np.isnan(s)] for s in strata]


def _accepts_axis(stat: Callable) -> bool:
    try:
        return "axis" in inspect.signature(stat).parameters
    except (TypeError, ValueError):
        return False


def bootstrap_ci(x: ArrayLike | Sequence[ArrayLike], stat: Callable = iqm, n: int = 2000, alpha: float = 0.05,
                 rng: np.random.Generator | int | None = 0) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) confidence interval of `stat(x)`, NaNs ignored.

    `x` is one sample (one stratum) or a list of samples, one per task: the stratified
    bootstrap of Agarwal et al. (2021) resamples with replacement within each stratum,
    joins the strata and applies `stat` to the joined sample. A stat that takes an `axis`
    argument (`iqm`, `np.mean`, `np.median`) is evaluated on all replicates at once.
    `rng` is a Generator or a seed (default 0: the same data give the same interval).
    Degenerate cases: no values -> (nan, nan); one value per stratum -> (stat, stat).
    """
    strata = [s for s in _strata(x) if s.size]
    if not strata:
        return float("nan"), float("nan")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    samples = np.concatenate([s[gen.integers(0, s.size, size=(n, s.size))] for s in strata], axis=1)
    if _accepts_axis(stat):
        values = np.asarray(stat(samples, axis=1), dtype=np.float64)
    else:
        values = np.array([stat(row) for row in samples], dtype=np.float64)
    low, high = np.nanquantile(values, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def mean_ci_band(matrix: np.ndarray, n: int = 1000, alpha: float = 0.05,
                 rng: np.random.Generator | int | None = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise mean and bootstrap CI of the mean of a (sessions x points) matrix.

    NaN entries (a session without a value at that point) are left out of their column; a
    column with one value has a zero-width band, one with none is NaN.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 1:
        m = m[None, :]
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    k = m.shape[1]
    mean, low, high = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    complete = ~np.isnan(m).any(axis=0)
    if complete.any() and m.shape[0] > 1:
        # all sessions present: one resampling of sessions serves every such column
        full = m[:, complete]
        idx = gen.integers(0, m.shape[0], size=(n, m.shape[0]))
        reps = full[idx].mean(axis=1)  # (n, columns)
        mean[complete] = full.mean(axis=0)
        low[complete], high[complete] = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    for j in np.flatnonzero(~complete | (m.shape[0] == 1)):
        col = m[:, j][~np.isnan(m[:, j])]
        if col.size == 0:
            continue
        mean[j] = col.mean()
        if col.size == 1:
            low[j] = high[j] = mean[j]
        else:
            low[j], high[j] = bootstrap_ci(col, np.mean, n=n, alpha=alpha, rng=gen)
    return mean, low, high


# --- comparing two groups of runs (analysis/compare.py) ------------------------------------


def _groups(x: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    return [s for s in _strata(x) if s.size]


def _resample(strata: list[np.ndarray], n: int, gen: np.random.Generator) -> list[np.ndarray]:
    """(n, size) replicates per stratum, drawn with replacement within the stratum."""
    return [s[gen.integers(0, s.size, size=(n, s.size))] for s in strata]


def iqm_difference_ci(a: ArrayLike | Sequence[ArrayLike], b: ArrayLike | Sequence[ArrayLike], n: int = 2000,
                      alpha: float = 0.05, rng: np.random.Generator | int | None = 0) -> tuple[float, float, float]:
    """IQM(b) - IQM(a) with a stratified percentile bootstrap (1 - alpha) CI.

    The two groups are resampled independently (they are different runs), each within its
    strata (tasks), as in Agarwal et al. (2021). Returns (difference, low, high).
    """
    sa, sb = _groups(a), _groups(b)
    if not sa or not sb:
        return math.nan, math.nan, math.nan
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    diff = iqm(np.concatenate(sb)) - iqm(np.concatenate(sa))
    reps = (iqm(np.concatenate(_resample(sb, n, gen), axis=1), axis=1)
            - iqm(np.concatenate(_resample(sa, n, gen), axis=1), axis=1))
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(diff), float(low), float(high)


def _prob_greater(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """P(B > A) + P(B = A) / 2 along the last axis: the Mann-Whitney U of b over a divided by
    n_a n_b (works on stacked replicates: a (..., n_a), b (..., n_b))."""
    gt = (b[..., :, None] > a[..., None, :]).mean(axis=(-2, -1))
    eq = (b[..., :, None] == a[..., None, :]).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def probability_of_improvement(a: ArrayLike | Sequence[ArrayLike], b: ArrayLike | Sequence[ArrayLike],
                               n: int = 2000, alpha: float = 0.05,
                               rng: np.random.Generator | int | None = 0) -> tuple[float, float, float]:
    """P(B > A): the chance a run of B beats a run of A on the same task, averaged over tasks
    (Agarwal et al. 2021), with a stratified bootstrap (1 - alpha) CI. Ties count half.

    `a` and `b` are one sample each, or one sample per task in the same task order.
    Identical distributions give 0.5. Returns (probability, low, high).
    """
    sa, sb = _strata(a), _strata(b)
    pairs = [(x, y) for x, y in zip(sa, sb) if x.size and y.size]
    if not pairs or len(sa) != len(sb):
        return math.nan, math.nan, math.nan
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    point = float(np.mean([_prob_greater(x, y) for x, y in pairs]))
    reps = np.mean([_prob_greater(x[gen.integers(0, x.size, size=(n, x.size))],
                                  y[gen.integers(0, y.size, size=(n, y.size))]) for x, y in pairs], axis=0)
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return point, float(low), float(high)


def mann_whitney_p(a: ArrayLike, b: ArrayLike) -> float:
    """Two-sided Mann-Whitney U test p-value of B against A (scipy; exact for small samples
    without ties). NaN when either sample is empty or every value is the same."""
    from scipy.stats import mannwhitneyu

    x, y = _groups(a), _groups(b)
    if not x or not y:
        return math.nan
    x, y = np.concatenate(x), np.concatenate(y)
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0
    return float(mannwhitneyu(y, x, alternative="two-sided").pvalue)


# Asymptotic relative efficiency of the Mann-Whitney test against the t-test for normal data
# (3/pi, Lehmann 1975): a rank test needs ~1/0.955 as many runs for the same power.
MANN_WHITNEY_ARE = 3 / math.pi


def sessions_needed(a: ArrayLike, b: ArrayLike, alpha: float = 0.05, power: float = 0.8) -> float:
    """Runs per group for a two-sided test at level `alpha` to detect the observed difference
    of means with probability `power`, at the observed (pooled) spread:

        n = 2 ((z_{1-alpha/2} + z_{power}) s / d)^2 / ARE,   rounded up,

    the normal-approximation power calculation for two equal groups, divided by the
    Mann-Whitney test's efficiency. inf when the observed difference is 0; NaN with fewer
    than two values in a group.
    """
    from scipy.stats import norm

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size < 2 or y.size < 2:
        return math.nan
    d = abs(float(y.mean() - x.mean()))
    s = math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / (x.size + y.size - 2))
    if d == 0:
        return math.inf
    if s == 0:
        return 2.0
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return float(max(2, math.ceil(2 * (z * s / d) ** 2 / MANN_WHITNEY_ARE)))


def optimality_gap(x: ArrayLike, axis: int = -1, target: float = 1.0) -> float | np.ndarray:
    """How far the normalized scores fall short of `target` on average: mean(max(target - x, 0))
    (Agarwal et al. 2021); scores above the target earn nothing extra. Lower is better."""
    a = np.asarray(x, dtype=np.float64)
    out = np.nanmean(np.maximum(target - a, 0.0), axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def performance_profile(x: ArrayLike | Sequence[ArrayLike], taus: ArrayLike, n: int = 1000, alpha: float = 0.05,
                        rng: np.random.Generator | int | None = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fraction of runs scoring above each tau, averaged over tasks (each task weighs the same),
    with a stratified bootstrap (1 - alpha) band (Agarwal et al. 2021). Returns (fraction, low, high)."""
    strata = _groups(x)
    t = np.asarray(taus, dtype=np.float64)
    if not strata:
        nan = np.full(t.size, np.nan)
        return nan, nan, nan
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    point = np.mean([(s[:, None] > t[None, :]).mean(axis=0) for s in strata], axis=0)
    reps = np.mean([(r[:, :, None] > t[None, None, :]).mean(axis=1) for r in _resample(strata, n, gen)], axis=0)
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    return point, low, high
