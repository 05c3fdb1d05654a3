"""Graphs of a session, a trial, a comparison of runs and a search, as PNG and as HTML: the
lab's charts built from a run's tables (chart.py describes and draws a chart).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from slm_lab.analysis import stats
from slm_lab.analysis.chart import PALETTE, Band, Chart, HLine, Line, Panel, Points, write_chart
from slm_lab.analysis.metrics import FITNESS_METRICS, align_on_frame, eval_curve, train_curve
from slm_lab.analysis.search_graphs import column_for_key, short_key as _short
from slm_lab.lib.layout import RunLayout, TableLayout
from slm_lab.lib.logger import get_logger

if TYPE_CHECKING:  # only a search's experiment table is a DataFrame
    import pandas as pd

logger = get_logger(__name__)

# the schedules algorithms log (explore_var: epsilon or tau; SAC's alpha is a training statistic)
EXPLORATION_SCHEDULES = ("explore_var", "entropy_coef", "action_noise_std", "alpha")


# --- the lab's graphs ---------------------------------------------------------------------


@dataclass
class SessionData:
    """The two tables of one session, as read from its folder (metrics.read_table: Tables)."""

    name: str
    train: Any
    eval: Any


def session_chart(train_df: Any, eval_df: Any, random_return: float, title: str) -> Chart:
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
    # each algorithm logs its own exploration schedule (Algorithm.SCHEDULES) under its own name
    schedules = [Line(*train_curve(train_df, name), name, color)
                 for name, color in zip(EXPLORATION_SCHEDULES, PALETTE[5:]) if name in train_df]
    nf, ent = train_curve(train_df, "entropy")
    return Chart(title, [
        returns,
        Panel("loss", "loss", items=[Line(lf, loss, "loss", PALETTE[3])]),
        Panel("exploration", "schedule / entropy", "frames", items=[*schedules, Line(nf, ent, "entropy", PALETTE[4])]),
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
    import pandas as pd

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
