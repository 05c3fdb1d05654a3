"""Training diagnostics graphs from the algorithm's named statistics.

train.csv holds the common columns (metrics.COLUMNS) and then whatever the algorithm declares
in its STATS (PPO: policy_loss, value_loss, entropy, approx_kl, clip_fraction,
explained_variance; DQN: q_mean; SAC: critic_loss, actor_loss, alpha_loss, alpha; ...). The
graphs draw each of those that holds data, plus the learning rate, so every algorithm's
graph shows what it reports without a list kept here: per session (`session_diagnostics`),
and per trial as the mean of sessions with a 95% bootstrap band (`trial_graph_diagnostics`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from slm_lab.analysis.graphs import PALETTE, Chart, Line, Panel, SessionData, _mean_band_items, write_chart
from slm_lab.analysis.metrics import COLUMNS, numbers, train_curve
from slm_lab.lib import io
from slm_lab.lib.layout import TableLayout

# common columns worth a diagnostics panel when the algorithm fills them
COMMON_DIAGNOSTICS = ("lr",)


def diagnostic_columns(tables: Sequence[Any]) -> list[str]:
    """The algorithm's own columns (after the common ones) then lr, those with a finite value."""
    names: list[str] = []
    for df in tables:
        names += [c for c in df.columns if c not in COLUMNS and c not in names]
    names += [c for c in COMMON_DIAGNOSTICS if c not in names]

    def has_data(col: str) -> bool:
        return any(col in df.columns and np.isfinite(numbers(df[col])).any() for df in tables)

    return [c for c in names if has_data(c)]


def _chart(title: str, panels: list[Panel]) -> Chart:
    ncols = 2 if len(panels) > 1 else 1
    for p in panels[-ncols:]:
        p.xlabel = "frames"
    return Chart(title, panels, ncols=ncols, sharex=False, row_height_in=2.4)


def session_diagnostics_chart(train_df: Any, title: str) -> Chart | None:
    """One panel per reported statistic against frames; None when the algorithm reports none."""
    columns = diagnostic_columns([train_df])
    if not columns:
        return None
    panels = []
    for k, col in enumerate(columns):
        f, v = train_curve(train_df, col)
        panels.append(Panel(col, col, items=[Line(f, v, col, PALETTE[k % len(PALETTE)])]))
    return _chart(f"{title}: training diagnostics", panels)


def trial_diagnostics_chart(sessions: Sequence[SessionData], title: str) -> Chart | None:
    """Each statistic's mean over sessions with a 95% bootstrap band, sessions faint behind it."""
    columns = diagnostic_columns([s.train for s in sessions])
    if not columns:
        return None
    panels = []
    for k, col in enumerate(columns):
        curves = [train_curve(s.train, col) for s in sessions if col in s.train.columns]
        panels.append(Panel(f"{col} (mean of sessions)", col,
                            items=_mean_band_items(curves, f"mean {col}", PALETTE[k % len(PALETTE)])))
    return _chart(f"{title}: training diagnostics", panels)


SESSION_GRAPH = "session_diagnostics"
SUFFIXES = (".png", ".html")


def plot_session_diagnostics(session_dir: Path, train_df: Any, title: str) -> list[Path]:
    chart = session_diagnostics_chart(train_df, title)
    return list(write_chart(chart, Path(session_dir) / SESSION_GRAPH)) if chart else []


def plot_trial_diagnostics(trial_dir: Path, sessions: Sequence[SessionData], title: str,
                           session_dirs: Sequence[Path] = ()) -> list[Path]:
    """The trial's diagnostics graph. Of one session it is that session's own graph (the mean of
    one curve is the curve), copied from `session_dirs[0]` rather than drawn a second time."""
    out = TableLayout(Path(trial_dir)).trial_graph("diagnostics")
    if len(sessions) == 1 and len(session_dirs) == 1:
        drawn = [(Path(session_dirs[0]) / SESSION_GRAPH).with_suffix(s) for s in SUFFIXES]
        if all(p.is_file() for p in drawn):
            copies = [out.with_name(out.name + s) for s in SUFFIXES]
            for src, dst in zip(drawn, copies):
                data = src.read_bytes()
                io.atomic_write(dst, lambda f: f.write(data), binary=True)
            return copies
    chart = trial_diagnostics_chart(sessions, title)
    return list(write_chart(chart, out)) if chart else []
