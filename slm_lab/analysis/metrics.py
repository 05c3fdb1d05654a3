"""The standardized fitness vector of a session and of a trial (DESIGN.md §7, docs/METRICS.md).

All session metrics come from the evaluation curve: the mean greedy return R_i at
checkpoint i, reached after t_i frames and o_i optimizer steps, measured against the return
R_rand of a uniformly random policy (baseline.py):

    strength_i          = R_i - R_rand
    strength            = mean_i strength_i
    max_strength        = max_i strength_i
    final_strength      = strength_N
    sample_efficiency   = sum_i (w_i / t_i) / sum_i w_i,   w_i = max(strength_i, 0), t_i > 0 only
    training_efficiency = the same with t_i = optimizer steps
    stability           = 1 - |sum_i min(strength_{i+1} - strength_i, 0)| / sum_i w_i
    consistency (trial) = 1 - sum_i 2 std_j(strength_ij) / sum_i max(mean_j strength_ij, 0)

Where every strength_i >= 0 these are exactly the formulas of the SLM Lab fitness vector
(Keng & Graesser, "SLM Lab: A Comprehensive Benchmark and Modular Software Framework for
Reproducible Deep Reinforcement Learning", 2019). The positive part w_i keeps a dip below
random from acting as a negative weight: an efficiency stays a weighted mean of 1/t_i,
between 1/t_max and 1/t_min. Curves that never beat random (all w_i = 0) have NaN
efficiencies and stability: there is no learning to time or to keep.

Rows whose return is NaN (no evaluation episode finished) are ignored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slm_lab.analysis import stats
from slm_lab.analysis.stats import ArrayLike
from slm_lab.lib import tables

COLUMNS = ("frame", "opt_step", "episode", "wall_t", "fps", "return", "return_ma", "loss", "entropy",
           "explore_var", "lr")

SESSION_METRICS = ("strength", "max_strength", "final_strength", "sample_efficiency", "training_efficiency",
                   "stability", "final_return_ma", "final_return")
# the metrics a search ranks trials by (experiment graphs plot each against each hyperparameter)
FITNESS_METRICS = ("strength", "max_strength", "final_strength", "sample_efficiency", "training_efficiency",
                   "stability", "consistency", "final_return_ma")

# a short meaning in plain words, shown beside each number
MEANINGS: dict[str, str] = {
    "strength": "average margin of the eval return over a random policy, across all checkpoints (higher = better)",
    "max_strength": "best eval margin over a random policy at any checkpoint",
    "final_strength": "eval margin over a random policy at the last checkpoint",
    "sample_efficiency": ("how early (in env frames) the strength was earned: strength-weighted mean of 1/frames "
                          "(higher = fewer frames)"),
    "training_efficiency": "the same per optimizer step: strength-weighted mean of 1/steps (higher = fewer updates)",
    "stability": "1 = the eval curve never fell back; lower = it lost part of what it had gained (can go below 0)",
    "consistency": "1 = all seeds learned the same curve; lower = seeds disagree (2 std across seeds / mean strength)",
    "final_return_ma": "training return averaged over the last ma_window episodes at the end of training",
    "final_return": "greedy eval return at the last checkpoint",
    "final_return_iqm": ("interquartile mean of the sessions' final eval returns (robust to one odd seed), "
                         "with its 95% bootstrap CI"),
    "random_baseline": "mean return of a uniformly random policy in this env (strength 0)",
    "num_checkpoints": "evaluation checkpoints with a finished episode",
    "last_frame": "frames trained when the last checkpoint was taken",
    "num_sessions": "sessions (seeds) that finished and were aggregated",
    "num_failed_sessions": "sessions that crashed or diverged (left out of the means)",
}


# --- reading the tables -------------------------------------------------------------------


def numbers(values: Any) -> np.ndarray:
    """A column as float64; a cell that is not a number is NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                pass
        return out


def read_table(path: str | Path) -> tables.Table:
    """A train.csv / eval.csv as columns of float64, every column of COLUMNS present (NaN where
    the file has none); a missing or empty file gives an empty table, and a torn last line (a
    run killed while appending it, lib/tables.py) is left out."""
    table = tables.read_table(Path(path))
    n = len(table)
    data = {name: numbers(table[name]) for name in table.columns}
    for col in COLUMNS:
        data.setdefault(col, np.full(n, np.nan))
    return tables.Table(data)


def _finite_in_frame_order(table: Any, columns: Sequence[str]) -> list[np.ndarray]:
    """`columns` of `table` (a Table or a DataFrame), frame first and value last, at the rows
    where both of those are finite, sorted by frame (stable: rows of one frame keep their order)."""
    values = [numbers(table[c]) for c in columns]
    keep = np.isfinite(values[0]) & np.isfinite(values[-1])
    values = [v[keep] for v in values]
    order = np.argsort(values[0], kind="stable")
    return [v[order] for v in values]


def eval_curve(eval_df: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frames, opt_steps, returns) of the checkpoints with a return, in frame order."""
    frames, opt_steps, returns = _finite_in_frame_order(eval_df, ("frame", "opt_step", "return"))
    return frames, opt_steps, returns


def train_curve(train_df: Any, column: str = "return_ma") -> tuple[np.ndarray, np.ndarray]:
    """(frames, values) of the train rows where `column` is a number, in frame order."""
    frames, values = _finite_in_frame_order(train_df, ("frame", column))
    return frames, values


# --- session metrics ----------------------------------------------------------------------


def efficiency(strengths: ArrayLike, times: ArrayLike) -> float:
    """sum_i (w_i / t_i) / sum_i w_i with w_i = max(strength_i, 0), over checkpoints with t_i > 0.

    NaN when no checkpoint with t_i > 0 beats random.
    """
    s = np.asarray(strengths, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    keep = np.isfinite(s) & np.isfinite(t) & (t > 0)
    w = np.clip(s[keep], 0.0, None)
    total = w.sum()
    if total <= 0:
        return math.nan
    return float((w / t[keep]).sum() / total)


def stability(strengths: ArrayLike) -> float:
    """1 - |sum of drops between consecutive checkpoints| / sum of positive strengths.

    One checkpoint that beats random: 1 (nothing was lost). Never beats random: NaN.
    """
    s = np.asarray(strengths, dtype=np.float64)
    s = s[np.isfinite(s)]
    total = np.clip(s, 0.0, None).sum()
    if total <= 0:
        return math.nan
    drops = np.minimum(np.diff(s), 0.0).sum()
    return float(1.0 - abs(drops) / total)


def curve_metrics(returns: ArrayLike, frames: ArrayLike, opt_steps: ArrayLike,
                  random_return: float) -> dict[str, float]:
    """Strength, efficiencies and stability of one eval curve (checkpoints in time order)."""
    r = np.asarray(returns, dtype=np.float64)
    t = np.asarray(frames, dtype=np.float64)
    o = np.asarray(opt_steps, dtype=np.float64)
    keep = np.isfinite(r)
    r, t, o = r[keep], t[keep], o[keep]
    if r.size == 0:
        return {k: math.nan for k in ("strength", "max_strength", "final_strength", "sample_efficiency",
                                      "training_efficiency", "stability", "final_return")}
    s = r - random_return
    return {
        "strength": float(s.mean()),
        "max_strength": float(s.max()),
        "final_strength": float(s[-1]),
        "sample_efficiency": efficiency(s, t),
        "training_efficiency": efficiency(s, o),
        "stability": stability(s),
        "final_return": float(r[-1]),
    }


def final_return_ma(train_df: Any, eval_df: Any = None) -> float:
    """The last `return_ma` of train.csv; else the last `return_ma`, then `return`, of eval.csv."""
    candidates = [(train_df, "return_ma")]
    if eval_df is not None:
        candidates += [(eval_df, "return_ma"), (eval_df, "return")]
    for df, col in candidates:
        if len(df) and col in df:
            _, values = train_curve(df, col)
            if values.size:
                return float(values[-1])
    return math.nan


def session_metrics(eval_df: Any, train_df: Any, random_return: float) -> dict[str, Any]:
    """The fitness vector of one session from its two tables (Tables of read_table, or DataFrames)."""
    frames, opt_steps, returns = eval_curve(eval_df)
    out: dict[str, Any] = curve_metrics(returns, frames, opt_steps, random_return)
    out["final_return_ma"] = final_return_ma(train_df, eval_df)
    out["random_baseline"] = float(random_return)
    out["num_checkpoints"] = int(returns.size)
    out["last_frame"] = float(frames[-1]) if frames.size else math.nan
    return {k: out[k] for k in (*SESSION_METRICS, "random_baseline", "num_checkpoints", "last_frame")}


# --- trial metrics ------------------------------------------------------------------------


def align_on_frame(curves: Sequence[tuple[ArrayLike, ArrayLike]]) -> tuple[np.ndarray, np.ndarray]:
    """Put several (frames, values) curves on one frame grid: (grid, sessions x grid matrix).

    Sessions of one trial evaluate at nearly the same frames (vector envs may overshoot a
    checkpoint by a few frames). Frames closer than half the smallest checkpoint spacing
    are snapped to one grid point (their mean); a session with no row near a grid point
    has NaN there. Two rows of one session at one grid point are averaged.
    """
    clean = []
    for f, v in curves:
        f, v = np.asarray(f, dtype=np.float64), np.asarray(v, dtype=np.float64)
        keep = np.isfinite(f) & np.isfinite(v)
        clean.append((f[keep], v[keep]))
    frames = [f for f, _ in clean if f.size]
    if not frames:
        return np.empty(0), np.empty((len(clean), 0))
    union = np.unique(np.concatenate(frames))
    spacings = [np.median(np.diff(np.unique(f))) for f in frames if np.unique(f).size > 1]
    tol = 0.5 * min(spacings) if spacings else 0.05 * max(abs(union).max(), 1.0)
    labels = np.concatenate([[0], np.cumsum(np.diff(union) > tol)])
    n_grid = int(labels[-1]) + 1
    grid = np.bincount(labels, weights=union) / np.bincount(labels)
    matrix = np.full((len(clean), n_grid), np.nan)
    for j, (f, v) in enumerate(clean):
        if not f.size:
            continue
        lab = labels[np.searchsorted(union, f)]
        count = np.bincount(lab, minlength=n_grid)
        total = np.bincount(lab, weights=v, minlength=n_grid)
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix[j] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return grid, matrix


def consistency(strength_matrix: ArrayLike) -> float:
    """1 - sum_i 2 std_j(s_ij) / sum_i max(mean_j s_ij, 0), over checkpoints all sessions share.

    std is the sample standard deviation (ddof=1) across sessions j. NaN with fewer than
    two sessions, no shared checkpoint, or a mean curve that never beats random.
    """
    m = np.asarray(strength_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2:
        return math.nan
    m = m[:, ~np.isnan(m).any(axis=0)]
    if m.shape[1] == 0:
        return math.nan
    total = np.clip(m.mean(axis=0), 0.0, None).sum()
    if total <= 0:
        return math.nan
    return float(1.0 - (2.0 * m.std(axis=0, ddof=1)).sum() / total)


def _nanmean(values: Sequence[float]) -> float:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else math.nan


def trial_metrics(sessions: Sequence[dict[str, Any]], strength_curves: Sequence[tuple[ArrayLike, ArrayLike]],
                  num_failed: int = 0, random_return: float = math.nan,
                  rng: np.random.Generator | int | None = 0) -> dict[str, Any]:
    """Aggregate the sessions of a trial.

    `sessions`: the session metric dicts of the sessions that finished; `strength_curves`:
    their (frames, strength) eval curves. Each session metric is averaged (NaNs skipped);
    consistency comes from the curves aligned on frames; final_return_iqm is the IQM of
    the final eval returns with a bootstrap 95% CI over sessions (one stratum: one task).
    """
    out: dict[str, Any] = {k: _nanmean([s.get(k, math.nan) for s in sessions]) for k in SESSION_METRICS}
    _, matrix = align_on_frame(strength_curves)
    out["consistency"] = consistency(matrix)
    finals = np.array([s.get("final_return", math.nan) for s in sessions], dtype=np.float64)
    finals = finals[np.isfinite(finals)]
    out["final_return_iqm"] = stats.iqm(finals) if finals.size else math.nan
    low, high = stats.bootstrap_ci(finals, stats.iqm, rng=rng)
    out["final_return_iqm_ci_low"], out["final_return_iqm_ci_high"] = low, high
    out["random_baseline"] = float(random_return)
    out["num_sessions"] = len(sessions)
    out["num_failed_sessions"] = int(num_failed)
    return out
