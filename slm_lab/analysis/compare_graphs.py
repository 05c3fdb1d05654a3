"""The graphs and report.html of a comparison (analysis/compare.py).

- `compare_returns`: per env, each run's IQM of eval return against frames with a 95% band.
- `sample_efficiency`: IQM of normalized eval return (random 0, reference 1) against frames
  (against the fraction of each env's frame budget when the envs' budgets differ), pooled
  over envs with a bootstrap stratified by env.
- `performance_profile`: the fraction of runs whose normalized final score exceeds tau
  (Agarwal et al. 2021), with a stratified bootstrap band.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slm_lab.analysis import stats
from slm_lab.analysis.compare_data import RunResult, normalize, reference_return
from slm_lab.analysis.graphs import PALETTE, Band, Chart, HLine, Line, Panel, write_chart
from slm_lab.analysis.metrics import align_on_frame
from slm_lab.lib import io
from slm_lab.lib.layout import TableLayout

GRID_POINTS = 21


def _iqm_band(matrix: np.ndarray, rng: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column-wise IQM with a bootstrap CI; `matrix` is (strata, sessions, points) or (sessions, points)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    k = m.shape[-1]
    mid, low, high = np.full(k, np.nan), np.full(k, np.nan), np.full(k, np.nan)
    for j in range(k):
        strata = [s[:, j][np.isfinite(s[:, j])] for s in m]
        strata = [s for s in strata if s.size]
        if strata:
            mid[j] = stats.iqm(np.concatenate(strata))
            low[j], high[j] = stats.bootstrap_ci(strata, stats.iqm, n=500, rng=rng)
    return mid, low, high


def compare_returns_chart(runs: Sequence[RunResult]) -> Chart:
    envs = list(dict.fromkeys(e for r in runs for e in r.trials))
    panels = []
    for env in envs:
        panel = Panel(f"{env}: eval return (IQM of sessions, 95% CI)", "return", "frames")
        for k, run in enumerate(runs):
            if env not in run.trials:
                continue
            grid, matrix = align_on_frame(run.trials[env].curves)
            mid, low, high = _iqm_band(matrix)
            color = PALETTE[k % len(PALETTE)]
            panel.items += [Band(grid, low, high, f"{run.label} 95% CI", color), Line(grid, mid, run.label, color)]
        rand = next(r.trials[env].random_return for r in runs if env in r.trials)
        if np.isfinite(rand):
            panel.items.append(HLine(float(rand), "random policy"))
        panels.append(panel)
    return Chart("comparison: eval return", panels, row_height_in=3.2)


def _normalized_matrix(run: RunResult, env: str, refs: dict[str, Any], grid: np.ndarray,
                       fraction: bool) -> np.ndarray:
    """(sessions, points): each session's normalized eval curve interpolated onto `grid`
    (NaN outside the frames it reached)."""
    t = run.trials[env]
    ref = reference_return(t.env, refs)
    rows = []
    for frames, ret in t.curves:
        keep = np.isfinite(frames) & np.isfinite(ret)
        f, r = frames[keep], normalize(ret[keep], t.random_return, ref)
        if fraction:
            f = f / max(t.max_frame, 1)
        row = np.interp(grid, f, r, left=np.nan, right=np.nan) if f.size > 1 else np.full(grid.size, np.nan)
        rows.append(row)
    return np.asarray(rows)


def sample_efficiency_chart(runs: Sequence[RunResult], refs: dict[str, Any]) -> Chart:
    budgets = {t.max_frame for r in runs for t in r.trials.values()}
    fraction = len(budgets) > 1
    top = 1.0 if fraction else float(max(budgets))
    grid = np.linspace(0.0, top, GRID_POINTS)
    panel = Panel("IQM of normalized eval return (random 0, reference 1), 95% CI", "normalized return",
                  "fraction of the frame budget" if fraction else "frames")
    for k, run in enumerate(runs):
        mats = [_normalized_matrix(run, env, refs, grid, fraction) for env in run.trials]
        width = max(m.shape[0] for m in mats)
        padded = np.full((len(mats), width, grid.size), np.nan)
        for i, m in enumerate(mats):
            padded[i, :m.shape[0]] = m
        mid, low, high = _iqm_band(padded)
        color = PALETTE[k % len(PALETTE)]
        panel.items += [Band(grid, low, high, f"{run.label} 95% CI", color), Line(grid, mid, run.label, color)]
    panel.items += [HLine(0.0, "random policy"), HLine(1.0, "reference", "#2ca02c")]
    return Chart("comparison: sample efficiency", [panel], row_height_in=3.6)


def performance_profile_chart(result: dict[str, Any]) -> Chart:
    scores = {label: [np.asarray(e["normalized"], dtype=np.float64) for e in run["envs"].values()]
              for label, run in result["runs"].items()}
    pooled = np.concatenate([s for ss in scores.values() for s in ss]) if scores else np.empty(0)
    pooled = pooled[np.isfinite(pooled)]
    hi = max(1.2, float(pooled.max()) + 0.05) if pooled.size else 1.2
    lo = min(0.0, float(pooled.min()) - 0.05) if pooled.size else 0.0
    taus = np.linspace(lo, hi, 101)
    panel = Panel("performance profile: fraction of runs with normalized score > tau", "fraction of runs",
                  "normalized score tau (random 0, reference 1)")
    for k, (label, strata) in enumerate(scores.items()):
        frac, low, high = stats.performance_profile([s[np.isfinite(s)] for s in strata], taus)
        color = PALETTE[k % len(PALETTE)]
        panel.items += [Band(taus, low, high, f"{label} 95% CI", color), Line(taus, frac, label, color)]
    return Chart("comparison: performance profile", [panel], row_height_in=3.6)


def write_graphs(runs: Sequence[RunResult], result: dict[str, Any], out: Path) -> list[Path]:
    """The three comparison graphs as PNG + HTML in `out`; returns the PNG paths."""
    from slm_lab.control.benchmark import load_references

    refs = load_references()
    charts = {"compare_returns": compare_returns_chart(runs),
              "sample_efficiency": sample_efficiency_chart(runs, refs),
              "performance_profile": performance_profile_chart(result)}
    return [write_chart(chart, out / name)[0] for name, chart in charts.items()]


def _fmt(x: Any) -> str:
    from slm_lab.analysis.report import format_value

    return format_value(x)


def write_report(out: Path, result: dict[str, Any], pngs: Sequence[Path]) -> Path:
    """report.html of the comparison: the verdicts, the per-env table, the aggregates, the graphs."""
    from slm_lab.analysis.report import _figure_html, _page

    parts = [f"<h1>Comparison against {html.escape(result['baseline'])}</h1>", "<h2>Verdicts</h2><ul>"]
    parts += [f"<li>{html.escape(p['verdict'])}</li>" for p in result["pairs"]]
    parts.append("</ul><h2>Per env</h2><div class=\"scroll\"><table><tr>" + "".join(
        f"<th>{c}</th>" for c in ("env", "A", "B", "n A/B", "IQM A", "IQM B", "IQM B - A [95% CI]",
                                  "P(B &gt; A) [95% CI]", "Mann-Whitney p", "sessions needed")) + "</tr>")
    for p in result["pairs"]:
        cells = [p["env"], p["a"], p["b"], f"{p['sessions_a']}/{p['sessions_b']}", _fmt(p["iqm_a"]), _fmt(p["iqm_b"]),
                 f"{_fmt(p['iqm_difference'])} [{_fmt(p['iqm_difference_ci'][0])}, {_fmt(p['iqm_difference_ci'][1])}]",
                 f"{_fmt(p['probability_of_improvement'])} [{_fmt(p['probability_of_improvement_ci'][0])}, "
                 f"{_fmt(p['probability_of_improvement_ci'][1])}]", _fmt(p["mann_whitney_p"]),
                 _fmt(p["sessions_needed"])]
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    parts.append("</table></div><h2>Normalized aggregates (random 0, reference 1)</h2><table><tr><th>run</th>"
                 + "".join(f"<th>{n}</th>" for n in ("IQM", "mean", "median", "optimality gap")) + "</tr>")
    for label, run in result["runs"].items():
        agg = run["aggregate"]
        cells = [f"{_fmt(agg[k]['value'])} [{_fmt(agg[k]['ci'][0])}, {_fmt(agg[k]['ci'][1])}]" if agg.get(k) else "n/a"
                 for k in ("iqm", "mean", "median", "optimality_gap")]
        parts.append(f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                     + "</tr>")
    parts.append("</table><p><a href=\"compare.json\">compare.json</a></p><h2>Graphs</h2>")
    parts += [_figure_html(p, out, p.stem.replace("_", " ")) for p in pngs]
    path = TableLayout(out).report_html
    io.write_text(path, _page("comparison", "\n".join(parts)))
    return path
