"""Graphs of a session, a trial, a comparison of runs and a search, as PNG and as HTML.

Each graph is first described backend-free (a `Chart` of `Panel`s holding lines, CI bands,
reference lines and scatter points), then drawn twice: a PNG with matplotlib's Agg
renderer (no display, no browser) and an interactive HTML page with plotly that loads the
data dir's one shared copy of plotly.js (html_page.py; it opens offline). matplotlib and
plotly are imported only inside the renderers.
"""

from __future__ import annotations

import io as _io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from slm_lab.analysis import stats
from slm_lab.analysis.metrics import FITNESS_METRICS, align_on_frame, eval_curve, train_curve
from slm_lab.analysis.search_graphs import column_for_key, short_key as _short
from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout, TableLayout
from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


# --- the backend-free description ---------------------------------------------------------


@dataclass
class Line:
    x: Any
    y: Any
    name: str
    color: str = PALETTE[0]
    width: float = 1.8
    opacity: float = 1.0
    markers: bool = False
    dash: bool = False
    legend: bool = True


@dataclass
class Band:
    """A filled interval between `low` and `high` (a confidence band)."""

    x: Any
    low: Any
    high: Any
    name: str
    color: str = PALETTE[0]


@dataclass
class HLine:
    y: float
    name: str
    color: str = "#555555"


@dataclass
class Points:
    """A scatter, coloured by `c` (a number per point) when given."""

    x: Any
    y: Any
    name: str
    c: Any = None
    clabel: str = ""
    text: Any = None


@dataclass
class Panel:
    title: str
    ylabel: str = ""
    xlabel: str = ""
    items: list = field(default_factory=list)
    xlog: bool = False  # a log x axis (log-uniform hyperparameters)


@dataclass
class Chart:
    title: str
    panels: list[Panel]
    ncols: int = 1
    sharex: bool = True
    width_in: float = 10.0
    row_height_in: float = 2.8

    @property
    def nrows(self) -> int:
        return max(1, math.ceil(len(self.panels) / self.ncols))


def _finite_xy(x: Any, *ys: Any) -> tuple[np.ndarray, ...]:
    """Drop the points where any y is NaN (so lines join across missing rows)."""
    x = np.asarray(x)
    arrays = [np.asarray(y, dtype=np.float64) for y in ys]
    keep = np.ones(len(x), dtype=bool)
    for a in arrays:
        keep &= np.isfinite(a)
    return (x[keep], *[a[keep] for a in arrays])


def _has_data(item: Any) -> bool:
    if isinstance(item, HLine):
        return False
    y = item.high if isinstance(item, Band) else item.y
    return bool(np.isfinite(np.asarray(y, dtype=np.float64)).any()) if len(y) else False


def _x_range(panel: Panel) -> tuple[float, float]:
    xs = []
    for item in panel.items:
        if isinstance(item, (Line, Band)) and _has_data(item):
            xs.append(np.asarray(item.x, dtype=np.float64))
    if not xs:
        return 0.0, 1.0
    allx = np.concatenate(xs)
    allx = allx[np.isfinite(allx)]
    return (float(allx.min()), float(allx.max())) if allx.size else (0.0, 1.0)


def _rgba(color: str, alpha: float) -> str:
    h = color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


# --- renderers ----------------------------------------------------------------------------


def render_png(chart: Chart, dpi: int = 100) -> bytes:
    """Draw a chart with matplotlib's Agg renderer (no pyplot, no global state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(chart.width_in, chart.row_height_in * chart.nrows + 0.6), dpi=dpi, layout="constrained")
    axes = fig.subplots(chart.nrows, chart.ncols, squeeze=False, sharex=chart.sharex)
    scatter = None
    for ax, panel in zip(axes.flat, chart.panels):
        legend = False
        for item in panel.items:
            if isinstance(item, (Line, Band)) and not _has_data(item):
                continue
            if isinstance(item, Line):
                x, y = _finite_xy(item.x, item.y)
                ax.plot(x, y, color=item.color, lw=item.width, alpha=item.opacity, ls="--" if item.dash else "-",
                        marker="o" if item.markers else None, ms=3, label=item.name if item.legend else None)
                legend |= item.legend
            elif isinstance(item, Band):
                x, lo, hi = _finite_xy(item.x, item.low, item.high)
                ax.fill_between(x, lo, hi, color=item.color, alpha=0.2, lw=0, label=item.name)
                legend = True
            elif isinstance(item, HLine):
                ax.axhline(item.y, color=item.color, ls=":", lw=1.2, label=item.name)
                legend = True
            elif isinstance(item, Points):
                x = np.asarray(item.x)
                y = np.asarray(item.y, dtype=np.float64)
                if item.c is None:
                    ax.scatter(x, y, s=22, color=PALETTE[0])
                else:
                    c = np.asarray(item.c, dtype=np.float64)
                    scatter = ax.scatter(x, y, c=c, s=22, cmap="viridis", vmin=_nanmin(c), vmax=_nanmax(c))
        if not any(_has_data(i) for i in panel.items):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#888888")
        ax.set_title(panel.title, fontsize=10)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        if panel.xlabel:
            ax.set_xlabel(panel.xlabel, fontsize=9)
        if panel.xlog:
            ax.set_xscale("log")
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if legend:
            ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(chart.panels):]:
        ax.set_visible(False)
    if scatter is not None:
        label = next((i.clabel for p in chart.panels for i in p.items if isinstance(i, Points)), "")
        fig.colorbar(scatter, ax=axes, label=label, shrink=0.6)
    fig.suptitle(chart.title, fontsize=11)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _nanmin(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.min()) if a.size else None


def _nanmax(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else None


def _json_x(x: np.ndarray) -> list:
    return [v.item() if hasattr(v, "item") else v for v in x]


def render_html(chart: Chart) -> str:
    """Draw a chart as an interactive plotly page that loads the shared plotly.js (html_page.py)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=chart.nrows, cols=chart.ncols, shared_xaxes=chart.sharex,
                        subplot_titles=[p.title for p in chart.panels],
                        vertical_spacing=min(0.12, 0.5 / chart.nrows), horizontal_spacing=0.08)
    shown: set[str] = set()
    colorbar_done = False

    def legend_once(name: str, wanted: bool = True) -> bool:
        if not wanted or name in shown:
            return False
        shown.add(name)
        return True

    for idx, panel in enumerate(chart.panels):
        row, col = idx // chart.ncols + 1, idx % chart.ncols + 1
        x0, x1 = _x_range(panel)
        for item in panel.items:
            if isinstance(item, (Line, Band)) and not _has_data(item):
                continue
            if isinstance(item, Line):
                x, y = _finite_xy(item.x, item.y)
                fig.add_trace(go.Scatter(
                    x=_json_x(x), y=y.tolist(), name=item.name, legendgroup=item.name,
                    showlegend=legend_once(item.name, item.legend), mode="lines+markers" if item.markers else "lines",
                    opacity=item.opacity, line={"color": item.color, "width": item.width,
                                                "dash": "dash" if item.dash else "solid"}), row=row, col=col)
            elif isinstance(item, Band):
                x, lo, hi = _finite_xy(item.x, item.low, item.high)
                fig.add_trace(go.Scatter(
                    x=_json_x(np.concatenate([x, x[::-1]])), y=np.concatenate([hi, lo[::-1]]).tolist(),
                    fill="toself", fillcolor=_rgba(item.color, 0.2), line={"width": 0}, hoverinfo="skip",
                    name=item.name, legendgroup=item.name, showlegend=legend_once(item.name)), row=row, col=col)
            elif isinstance(item, HLine):
                fig.add_trace(go.Scatter(
                    x=[x0, x1], y=[item.y, item.y], mode="lines", name=item.name, legendgroup=item.name,
                    showlegend=legend_once(item.name), line={"color": item.color, "dash": "dot", "width": 1.2}),
                    row=row, col=col)
            elif isinstance(item, Points):
                marker: dict[str, Any] = {"size": 8}
                if item.c is not None:
                    c = np.asarray(item.c, dtype=np.float64)
                    # plotly rejects None in a colour array: show a missing value at the scale's low end
                    low = _nanmin(c) if np.isfinite(c).any() else 0.0
                    marker.update(color=[float(v) if np.isfinite(v) else low for v in c],
                                  colorscale="Viridis", cmin=_nanmin(c), cmax=_nanmax(c),
                                  showscale=not colorbar_done, colorbar={"title": {"text": item.clabel}})
                    colorbar_done = True
                x = np.asarray(item.x)
                y = np.asarray(item.y, dtype=np.float64)
                fig.add_trace(go.Scatter(
                    x=_json_x(x), y=[None if not np.isfinite(v) else float(v) for v in y], mode="markers",
                    name=item.name, showlegend=False, marker=marker,
                    text=None if item.text is None else [str(t) for t in item.text]), row=row, col=col)
        fig.update_yaxes(title_text=panel.ylabel, row=row, col=col)
        if panel.xlabel:
            fig.update_xaxes(title_text=panel.xlabel, row=row, col=col)
        if panel.xlog:
            fig.update_xaxes(type="log", row=row, col=col)
    fig.update_layout(title={"text": chart.title}, template="plotly_white",
                      height=int(260 * chart.nrows + 120), width=None if chart.ncols == 1 else 420 * chart.ncols,
                      margin={"l": 60, "r": 30, "t": 80, "b": 50})
    from slm_lab.analysis.html_page import figure_page

    return figure_page(fig.to_json(), chart.title)


def write_chart(chart: Chart, out_prefix: str | Path) -> tuple[Path, Path]:
    """Write `{out_prefix}.png` and `{out_prefix}.html` atomically; returns their paths."""
    out_prefix = Path(out_prefix)
    png = out_prefix.with_name(out_prefix.name + ".png")
    html = out_prefix.with_name(out_prefix.name + ".html")
    data = render_png(chart)
    io.atomic_write(png, lambda f: f.write(data), binary=True)
    from slm_lab.analysis.html_page import ensure_plotly_js

    ensure_plotly_js(html)
    io.write_text(html, render_html(chart))
    return png, html


# --- the lab's graphs ---------------------------------------------------------------------


@dataclass
class SessionData:
    """The two tables of one session, as read from its folder."""

    name: str
    train: pd.DataFrame
    eval: pd.DataFrame


def session_chart(train_df: pd.DataFrame, eval_df: pd.DataFrame, random_return: float, title: str) -> Chart:
    """Returns (training, its moving average, eval) vs frames; loss; exploration / entropy."""
    tf, tret = train_curve(train_df, "return")
    mf, mret = train_curve(train_df, "return_ma")
    ef, _, eret = eval_curve(eval_df)
    returns = Panel("return", "return", items=[
        Line(tf, tret, "train return", PALETTE[0], width=1.0, opacity=0.35),
        Line(mf, mret, "train return_ma", PALETTE[0], width=2.2),
        Line(ef, eret, "eval return", PALETTE[1], markers=True),
    ])
    if np.isfinite(random_return):
        returns.items.append(HLine(float(random_return), "random policy"))
    lf, loss = train_curve(train_df, "loss")
    xf, xv = train_curve(train_df, "explore_var")
    nf, ent = train_curve(train_df, "entropy")
    return Chart(title, [
        returns,
        Panel("loss", "loss", items=[Line(lf, loss, "loss", PALETTE[3])]),
        Panel("exploration", "explore_var / entropy", "frames",
              items=[Line(xf, xv, "explore_var", PALETTE[2]), Line(nf, ent, "entropy", PALETTE[4])]),
    ])


def _mean_band_items(curves: Sequence[tuple[np.ndarray, np.ndarray]], label: str, color: str,
                     show_sessions: bool = True) -> list:
    grid, matrix = align_on_frame(curves)
    items: list = []
    if show_sessions:
        for j, (f, v) in enumerate(curves):
            items.append(Line(f, v, "sessions", color, width=0.8, opacity=0.3, legend=j == 0))
    if grid.size:
        mean, low, high = stats.mean_ci_band(matrix)
        items += [Band(grid, low, high, f"{label} 95% CI", color), Line(grid, mean, label, color, width=2.2)]
    return items


def trial_charts(sessions: Sequence[SessionData], random_return: float, title: str) -> tuple[Chart, Chart]:
    """(return chart, strength chart): mean across sessions with a 95% bootstrap CI band."""
    eval_curves = [(f, r) for f, _, r in (eval_curve(s.eval) for s in sessions)]
    ma_curves = [train_curve(s.train, "return_ma") for s in sessions]
    ret_panel = Panel("eval return (mean of sessions)", "return",
                      items=_mean_band_items(eval_curves, "mean eval return", PALETTE[1]))
    ma_panel = Panel("train return_ma (mean of sessions)", "return", "frames",
                     items=_mean_band_items(ma_curves, "mean train return_ma", PALETTE[0]))
    if np.isfinite(random_return):
        ret_panel.items.append(HLine(float(random_return), "random policy"))
        ma_panel.items.append(HLine(float(random_return), "random policy"))
    rr = random_return if np.isfinite(random_return) else 0.0
    strength_curves = [(f, r - rr) for f, r in eval_curves]
    strength_panel = Panel("strength = eval return - random return (mean of sessions)", "strength", "frames",
                           items=_mean_band_items(strength_curves, "mean strength", PALETTE[2]))
    strength_panel.items.append(HLine(0.0, "random policy"))
    return (Chart(f"{title}: return", [ret_panel, ma_panel]),
            Chart(f"{title}: strength", [strength_panel], row_height_in=3.6))


def compare_chart(runs: Sequence[tuple[str, Sequence[SessionData]]], title: str = "comparison") -> Chart:
    """Several trials on one graph: mean eval return and train return_ma with CI bands."""
    eval_panel = Panel("eval return (mean of sessions, 95% CI)", "return")
    ma_panel = Panel("train return_ma (mean of sessions, 95% CI)", "return", "frames")
    for k, (label, sessions) in enumerate(runs):
        color = PALETTE[k % len(PALETTE)]
        ev = [(f, r) for f, _, r in (eval_curve(s.eval) for s in sessions)]
        ma = [train_curve(s.train, "return_ma") for s in sessions]
        eval_panel.items += _mean_band_items(ev, label, color, show_sessions=False)
        ma_panel.items += _mean_band_items(ma, label, color, show_sessions=False)
    return Chart(title, [eval_panel, ma_panel], row_height_in=3.4)


def experiment_chart(experiment_df: pd.DataFrame, search_keys: Sequence[str], title: str = "search") -> Chart:
    """Each fitness metric (rows) vs each searched hyperparameter (columns), coloured by strength."""
    metrics = [m for m in FITNESS_METRICS if m in experiment_df.columns
               and np.isfinite(pd.to_numeric(experiment_df[m], errors="coerce").to_numpy(dtype=np.float64)).any()]
    metrics = metrics or [m for m in FITNESS_METRICS if m in experiment_df.columns][:1] or ["strength"]
    keys = [(k, column_for_key(experiment_df, k)) for k in search_keys]
    keys = [(k, c) for k, c in keys if c is not None]
    if not keys:
        experiment_df = experiment_df.assign(trial=np.arange(len(experiment_df)))
        keys = [("trial", "trial")]
    color = (pd.to_numeric(experiment_df["strength"], errors="coerce").to_numpy(dtype=np.float64)
             if "strength" in experiment_df.columns else None)
    text = experiment_df["trial"].astype(str).to_numpy() if "trial" in experiment_df.columns else None
    panels = []
    for metric in metrics:
        y = (pd.to_numeric(experiment_df[metric], errors="coerce").to_numpy(dtype=np.float64)
             if metric in experiment_df.columns else np.full(len(experiment_df), np.nan))
        for key, col in keys:
            x = experiment_df[col]
            x = x.to_numpy(dtype=np.float64) if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x) \
                else x.astype(str).to_numpy()
            log = key.endswith("__loguniform") and x.dtype.kind == "f" and bool((x[np.isfinite(x)] > 0).all())
            panels.append(Panel(f"{metric} vs {_short(key)}", metric, _short(key), xlog=log,
                                items=[Points(x, y, metric, c=color, clabel="strength", text=text)]))
    return Chart(title, panels, ncols=len(keys), sharex=False, width_in=5.0 * len(keys) if len(keys) > 1 else 6.0,
                 row_height_in=2.6)


# --- public entry points ------------------------------------------------------------------


def load_session(session_dir: str | Path) -> SessionData:
    from slm_lab.analysis.metrics import read_table

    layout = TableLayout(Path(session_dir))
    return SessionData(layout.dir.name, read_table(layout.train_csv), read_table(layout.eval_csv))


def plot_session(session_dir: str | Path, random_return: float, title: str | None = None) -> tuple[Path, Path]:
    """`session_graph.png` + `session_graph.html` in the session folder."""
    s = load_session(session_dir)
    chart = session_chart(s.train, s.eval, random_return, title or Path(session_dir).name)
    return write_chart(chart, TableLayout(Path(session_dir)).session_graph)


def plot_trial(trial_dir: str | Path, sessions: Sequence[SessionData], random_return: float,
               title: str | None = None) -> list[Path]:
    """`trial_graph_return.{png,html}` and `trial_graph_strength.{png,html}` in the trial folder."""
    trial_dir = Path(trial_dir)
    ret, strength = trial_charts(sessions, random_return, title or trial_dir.name)
    layout = TableLayout(trial_dir)
    return [*write_chart(ret, layout.trial_graph("return")), *write_chart(strength, layout.trial_graph("strength"))]


def plot_experiment(experiment_df: pd.DataFrame, search_keys: list[str], out_prefix: Path) -> tuple[Path, Path]:
    """Each fitness metric vs each searched hyperparameter, coloured by strength (PNG + HTML).

    `experiment_df` has one row per trial: a column per search key (named as the key,
    with or without its `__kind` suffix) and a column per fitness metric.
    """
    return write_chart(experiment_chart(experiment_df, search_keys, Path(out_prefix).name), out_prefix)


def trial_folders(run_dir: str | Path) -> list[Path]:
    """A trial folder is one with `session_*` folders; a run folder may hold several."""
    run_dir = Path(run_dir)
    if RunLayout(run_dir).sessions():
        return [run_dir]
    return sorted(p for p in run_dir.iterdir() if p.is_dir() and RunLayout(p).sessions()) if run_dir.is_dir() else []


def session_folders(trial_dir: str | Path) -> list[Path]:
    return [s.dir for s in RunLayout(Path(trial_dir)).sessions() if s.dir.is_dir()]


def plot_compare(run_dirs: list[Path], out_prefix: Path) -> tuple[Path, Path]:
    """Overlay several trials (mean eval return with a CI band each); the legend names the
    hyperparameters that differ between the trials' specs, else the folder."""
    from slm_lab.analysis.search_graphs import differing_labels

    runs = []
    all_trials = [t for d in run_dirs for t in trial_folders(Path(d))]
    labels = differing_labels(all_trials)
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        trials = trial_folders(run_dir)
        if not trials:
            logger.warning("%s holds no session folders; left out of the comparison", run_dir)
        for trial in trials:
            label = labels.get(trial) or (run_dir.name if trial == run_dir else f"{run_dir.name}/{trial.name}")
            sessions = session_folders(trial)
            pairs = [p.name for p in pair_folders(sessions[0])]
            if pairs:  # several (agent, env) pairs: each pair is a curve of its own
                for pair in pairs:
                    runs.append((f"{label} {pair}", [load_session(s / pair) for s in sessions if (s / pair).is_dir()]))
            else:
                runs.append((label, [load_session(s) for s in sessions]))
    return write_chart(compare_chart(runs, Path(out_prefix).name), out_prefix)


def pair_folders(session_dir: Path) -> list[Path]:
    """The `a<a>_e<e>` folders of a session with several (agent, env) pairs (none for one pair)."""
    layout = TableLayout(Path(session_dir))
    return [] if layout.train_csv.is_file() else layout.pair_folders()
