"""Is B better than A? Statistics that compare runs (trials, or benchmark folders of trials).

The first run is the baseline A; each later run B is compared with it.

- Per env both ran: the difference in IQM of the sessions' final greedy eval returns with a
  stratified bootstrap 95% CI, the probability of improvement P(B > A) with its CI
  (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"), the two-sided
  Mann-Whitney U p-value, and a verdict in plain words that calls a winner only when the CI
  and the test agree; otherwise it says how many sessions the observed spread would need.
- Across envs: scores normalized per env (random policy = 0, the published reference = 1),
  aggregate IQM / mean / median / optimality gap with stratified CIs, performance profiles
  and sample-efficiency curves (compare_graphs.py).

Everything lands in a comparison folder: compare.json (strict JSON), PNG + HTML graphs and
report.html. docs/METRICS.md explains each figure and when not to trust it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slm_lab.analysis import stats
from slm_lab.analysis.compare_data import (CompareError, RunResult, TrialResult, load_run, load_trial,  # noqa: F401
                                           normalize, reference_return)
from slm_lab.lib import io
from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)

ALPHA = 0.05
POWER = 0.8


def verdict(a_label: str, b_label: str, env: str, a: np.ndarray, b: np.ndarray, diff: tuple[float, float, float],
            p_value: float, needed: float) -> str:
    """Plain words: a winner only when the CI of the IQM difference excludes 0 and the rank test
    is significant at ALPHA; otherwise why not, and how many sessions it would take."""
    n_a, n_b = a.size, b.size
    if min(n_a, n_b) < 2:
        return (f"{env}: cannot compare: {a_label} has {n_a} and {b_label} {n_b} finished session(s); "
                "at least 2 each are needed, 5 or more to call a winner")
    d, low, high = diff
    significant = (low > 0 or high < 0) and p_value < ALPHA
    if significant:
        better, worse = (b_label, a_label) if d > 0 else (a_label, b_label)
        return (f"{env}: {better} is better than {worse}: IQM difference {d:+.4g} [95% CI {low:.4g}, {high:.4g}], "
                f"Mann-Whitney p = {p_value:.3g} with {n_a} vs {n_b} sessions")
    if not math.isfinite(needed):
        return f"{env}: no difference seen between {a_label} and {b_label} ({n_a} vs {n_b} sessions)"
    smallest_p = 2 / math.comb(n_a + n_b, n_a)
    why = (f" (with {n_a} vs {n_b} sessions the rank test cannot go below p = {smallest_p:.2g})"
           if smallest_p >= ALPHA else "")
    return (f"{env}: cannot tell {a_label} and {b_label} apart: IQM difference {d:+.4g} "
            f"[95% CI {low:.4g}, {high:.4g}], Mann-Whitney p = {p_value:.3g}{why}; about {int(needed)} sessions "
            f"per run would be needed to detect a difference this size at this spread "
            f"({int(POWER * 100)}% power, {int(ALPHA * 100)}% level)")


def pair_stats(a_label: str, b_label: str, env: str, a: np.ndarray, b: np.ndarray,
               rng: int = 0) -> dict[str, Any]:
    """Every figure of one env's A-versus-B comparison on raw final returns."""
    diff = stats.iqm_difference_ci(a, b, rng=rng)
    p_improve = stats.probability_of_improvement(a, b, rng=rng)
    p_value = stats.mann_whitney_p(a, b)
    needed = stats.sessions_needed(a, b, ALPHA, POWER)
    return {
        "env": env, "a": a_label, "b": b_label, "sessions_a": int(a.size), "sessions_b": int(b.size),
        "iqm_a": stats.iqm(a), "iqm_a_ci": list(stats.bootstrap_ci(a, rng=rng)),
        "iqm_b": stats.iqm(b), "iqm_b_ci": list(stats.bootstrap_ci(b, rng=rng)),
        "iqm_difference": diff[0], "iqm_difference_ci": [diff[1], diff[2]],
        "probability_of_improvement": p_improve[0], "probability_of_improvement_ci": [p_improve[1], p_improve[2]],
        "mann_whitney_p": p_value, "sessions_needed": needed,
        "verdict": verdict(a_label, b_label, env, a, b, diff, p_value, needed),
    }


AGGREGATES = {"iqm": stats.iqm, "mean": np.mean, "median": np.median, "optimality_gap": stats.optimality_gap}


def aggregate_scores(strata: Sequence[np.ndarray], rng: int = 0) -> dict[str, Any]:
    """Aggregate IQM / mean / median / optimality gap of normalized scores, CIs stratified by env."""
    strata = [s[np.isfinite(s)] for s in strata]
    strata = [s for s in strata if s.size]
    if not strata:
        return {name: None for name in AGGREGATES}
    joined = np.concatenate(strata)
    return {name: {"value": float(fn(joined)), "ci": list(stats.bootstrap_ci(strata, fn, rng=rng))}
            for name, fn in AGGREGATES.items()}


def normalized_finals(run: RunResult, envs: Sequence[str], refs: dict[str, Any]) -> list[np.ndarray]:
    out = []
    for env in envs:
        t = run.trials[env]
        out.append(normalize(t.final_returns, t.random_return, reference_return(t.env, refs)))
    return out


def compare_runs(runs: Sequence[RunResult], refs: dict[str, Any] | None = None, rng: int = 0) -> dict[str, Any]:
    """The comparison as a dict (what compare.json holds), the first run being the baseline A."""
    if len(runs) < 2:
        raise CompareError("compare needs at least two runs")
    if refs is None:
        from slm_lab.control.benchmark import load_references

        refs = load_references()
    base = runs[0]
    pairs, aggregate = [], {}
    for run in runs[1:]:
        envs = [e for e in base.trials if e in run.trials]
        if not envs:
            raise CompareError(f"'{base.label}' and '{run.label}' share no env "
                               f"({', '.join(base.trials)} vs {', '.join(run.trials)})")
        for env in envs:
            pairs.append(pair_stats(base.label, run.label, env, base.trials[env].final_returns,
                                    run.trials[env].final_returns, rng))
        na, nb = normalized_finals(base, envs, refs), normalized_finals(run, envs, refs)
        usable = [i for i, (x, y) in enumerate(zip(na, nb)) if np.isfinite(x).any() and np.isfinite(y).any()]
        if len(envs) > 1 and usable:
            p = stats.probability_of_improvement([na[i] for i in usable], [nb[i] for i in usable], rng=rng)
            aggregate[run.label] = {"envs": [envs[i] for i in usable], "vs": base.label,
                                    "probability_of_improvement": p[0], "probability_of_improvement_ci": [p[1], p[2]]}
    scores = {}
    for run in runs:
        envs = list(run.trials)
        norm = normalized_finals(run, envs, refs)
        scores[run.label] = {
            "folder": str(run.folder),
            "envs": {e: {"algorithm": run.trials[e].algorithm, "sessions": int(run.trials[e].final_returns.size),
                         "final_returns": run.trials[e].final_returns.tolist(),
                         "random_return": run.trials[e].random_return,
                         "reference_return": reference_return(run.trials[e].env, refs),
                         "normalized": n.tolist()} for e, n in zip(envs, norm)},
            "aggregate": aggregate_scores(norm, rng),
        }
    return {"baseline": base.label, "alpha": ALPHA, "power": POWER, "pairs": pairs, "runs": scores,
            "across_envs": aggregate}


def compare(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None) -> dict[str, Any]:
    """Compare runs (the first is the baseline): compare.json, graphs and report.html in `out_dir`
    (default: a new `compare_<timestamp>` folder in the data dir). Returns the comparison with
    `out_dir`, `json` and `graphs` added."""
    from slm_lab.analysis import compare_graphs
    from slm_lab.analysis.report import _json_safe

    runs = [load_run(d) for d in run_dirs]
    _dedupe_labels(runs)
    result = compare_runs(runs)
    out = Path(out_dir) if out_dir is not None else io.new_run_dir("compare")
    graphs = compare_graphs.write_graphs(runs, result, out)
    result["graphs"] = [str(p) for p in graphs]
    io.write_json(out / "compare.json", _json_safe(result))
    compare_graphs.write_report(out, result, graphs)
    result.update(out_dir=str(out), json=str(out / "compare.json"))
    return result


def _dedupe_labels(runs: Sequence[RunResult]) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        if run.label in seen:
            seen[run.label] += 1
            run.label = f"{run.label} #{seen[run.label]}"
        else:
            seen[run.label] = 1
