"""What the lab calls at the end of a session, a trial and a search.

- `session_end`: metrics.json + session graph in the session folder.
- `trial_end`: trial_metrics.json / .csv, trial graphs and report.html in the trial folder.
- `metrics_table`: the metrics with their meaning, as a rich table for the terminal.
- `write_experiment_report`: search graphs and a ranked report.html in the experiment folder.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from slm_lab.analysis import graphs
from slm_lab.analysis.baseline import random_baseline
from slm_lab.analysis.metrics import (
    FITNESS_METRICS, MEANINGS, SESSION_METRICS, eval_curve, session_metrics, trial_metrics,
)
from slm_lab.lib import io
from slm_lab.lib.layout import ExperimentLayout, RunLayout, SessionLayout
from slm_lab.lib.logger import get_logger
from slm_lab.lib.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

# the order metrics are shown in (tables, csv columns)
TRIAL_ORDER = ("strength", "max_strength", "final_strength", "sample_efficiency", "training_efficiency",
               "stability", "consistency", "final_return_ma", "final_return", "final_return_iqm",
               "random_baseline", "num_sessions", "num_failed_sessions", "num_checkpoints", "last_frame")
IQM_CI = ("final_return_iqm_ci_low", "final_return_iqm_ci_high")


# --- small helpers ------------------------------------------------------------------------


def _json_safe(obj: Any) -> Any:
    """NaN / inf become null so the files are standard JSON (browsers, jq)."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def format_value(value: Any) -> str:
    """Numbers for people: 4 significant digits, integers plain, NaN as 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.4g}"
    return str(value)


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, value, meaning) for each known metric present, the IQM with its CI."""
    rows = []
    for key in TRIAL_ORDER:
        if key not in metrics:
            continue
        value = format_value(metrics[key])
        if key == "final_return_iqm" and all(k in metrics for k in IQM_CI):
            value += f" [{format_value(metrics[IQM_CI[0]])}, {format_value(metrics[IQM_CI[1]])}]"
        rows.append((key, value, MEANINGS.get(key, "")))
    return rows


def _random_baseline(spec: Spec) -> float:
    # a pair spec (control/session.py pair_spec) lists its agent's own bodies of a multi-agent env
    bodies = [b for _, _, b in spec.body.custom] if spec.body.product == "custom" and spec.body.custom else None
    try:
        return random_baseline(spec.env[0], bodies=bodies)
    except Exception as e:  # an env that cannot be made here must not lose the run's tables
        logger.warning("no random baseline for env '%s' (%s): strength metrics will be n/a", spec.env[0].name, e)
        return math.nan


def _session_index(path: Path, position: int) -> int:
    tail = path.name.rpartition("_")[2]
    return int(tail) if tail.isdigit() else position


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


# --- session ------------------------------------------------------------------------------


def session_end(session_dir: Path, spec: Spec, final: bool = True) -> dict[str, Any]:
    """Compute the session's metrics, write `metrics.json` and the session graph; return the metrics.

    Called with `final=False` to refresh metrics and graph during a long run.
    """
    session_dir = Path(session_dir)
    rand = _random_baseline(spec)
    data = graphs.load_session(session_dir)
    metrics = session_metrics(data.eval, data.train, rand)
    io.write_json(SessionLayout(session_dir).metrics_json, _json_safe(metrics))
    try:
        graphs.write_chart(graphs.session_chart(data.train, data.eval, rand, f"{spec.name} {session_dir.name}"),
                           SessionLayout(session_dir).session_graph)
        from slm_lab.analysis.diagnostics import plot_session_diagnostics

        plot_session_diagnostics(session_dir, data.train, f"{spec.name} {session_dir.name}")
    except Exception:  # a graph must never cost the run its metrics
        logger.warning("session graph of %s failed", session_dir, exc_info=True)
    if final:
        logger.info("%s: strength %s, final return %s", session_dir.name, format_value(metrics["strength"]),
                    format_value(metrics["final_return"]))
    return metrics


# --- trial --------------------------------------------------------------------------------


def trial_end(trial_dir: Path, spec: Spec, session_dirs: list[Path], failed: dict[int, str]) -> dict[str, Any]:
    """Aggregate the sessions: trial_metrics.json / .csv, trial graphs, report.html; return the trial metrics.

    Sessions listed in `failed` (index -> error) are left out of every aggregate and
    listed in the csv and the report with their error.
    """
    trial_dir = Path(trial_dir)
    rand = _random_baseline(spec)
    failed = {int(k): str(v) for k, v in (failed or {}).items()}
    done: list[tuple[int, graphs.SessionData, dict[str, Any]]] = []
    done_dirs: list[Path] = []
    for pos, d in enumerate(session_dirs):
        idx = _session_index(Path(d), pos)
        if idx in failed:
            continue
        data = graphs.load_session(d)
        done.append((idx, data, session_metrics(data.eval, data.train, rand)))
        done_dirs.append(Path(d))
    strength_curves = [(f, r - rand) for f, _, r in (eval_curve(data.eval) for _, data, _ in done)]
    metrics = trial_metrics([m for _, _, m in done], strength_curves, num_failed=len(failed), random_return=rand)
    sessions = {idx: m for idx, _, m in done}

    layout = RunLayout(trial_dir)
    io.write_json(layout.trial_metrics_json, _json_safe({"trial": metrics, "sessions": sessions, "failed": failed}))
    write_table(layout.trial_metrics_csv, *trial_metrics_rows(metrics, sessions, failed))
    try:
        graphs.plot_trial(trial_dir, [data for _, data, _ in done], rand, spec.name)
        from slm_lab.analysis.diagnostics import plot_trial_diagnostics

        plot_trial_diagnostics(trial_dir, [data for _, data, _ in done], spec.name, done_dirs)
    except Exception:
        logger.warning("trial graphs of %s failed", trial_dir, exc_info=True)
    write_trial_report(trial_dir, spec, metrics, sessions, failed)
    return metrics


def trial_metrics_rows(metrics: dict[str, Any], sessions: dict[int, dict[str, Any]],
                       failed: dict[int, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns) of trial_metrics.csv: one row per session (finished or failed) and a
    last row `session = trial`."""
    rows = []
    for idx in sorted({*sessions, *failed}):
        row: dict[str, Any] = {"session": str(idx), "status": "failed" if idx in failed else "ok",
                               "error": failed.get(idx, "")}
        row.update(sessions.get(idx, {}))
        rows.append(row)
    rows.append({"session": "trial", "status": "", "error": "", **metrics})
    columns = ["session", "status", "error"] + [k for k in (*TRIAL_ORDER, *IQM_CI)
                                                if any(k in r for r in rows)]
    return rows, columns


def metrics_table(trial_metrics: dict[str, Any], title: str = "trial metrics") -> Any:
    """A rich Table of each metric, its value and what it means in plain words."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("meaning", style="dim")
    for name, value, meaning in _metric_rows(trial_metrics):
        table.add_row(name, value, meaning)
    return table


# --- html reports -------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em; color: #222; max-width: 1400px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
.failed { color: #b00020; } .meta { color: #555; }
"""


def _page(title: str, body: str) -> str:
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _metric_table_html(metrics: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td class=\"num\">{html.escape(v)}</td>"
                   f"<td>{html.escape(m)}</td></tr>" for n, v, m in _metric_rows(metrics))
    return f"<table><tr><th>metric</th><th>value</th><th>meaning</th></tr>{rows}</table>"


def _figure_html(png: Path, start: Path, caption: str) -> str:
    html_graph = png.with_suffix(".html")
    img = f"<img src=\"{html.escape(_rel(png, start))}\" alt=\"{html.escape(caption)}\">"
    link = ""
    if html_graph.exists():
        href = html.escape(_rel(html_graph, start))
        img = f"<a href=\"{href}\">{img}</a>"
        link = f" (<a href=\"{href}\">interactive</a>)"
    return f"<figure>{img}<figcaption>{html.escape(caption)}{link}</figcaption></figure>"


def write_trial_report(trial_dir: Path, spec: Spec, metrics: dict[str, Any], sessions: dict[int, dict[str, Any]],
                       failed: dict[int, str]) -> Path:
    """`report.html`: links to spec and tables, the metric table, and every graph of the trial."""
    trial_dir = Path(trial_dir)
    layout = RunLayout(trial_dir)
    env = spec.env[0]
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    parts = [
        f"<h1>{html.escape(spec.name)}</h1>",
        f"<p class=\"meta\">env <b>{html.escape(env.name)}</b>, max_frame {env.max_frame}, "
        f"{metrics.get('num_sessions', 0)} session(s) aggregated, {len(failed)} failed; written {when}</p>",
        "<p>" + " &middot; ".join(f"<a href=\"{p.name}\">{p.name}</a>"
                                  for p in (layout.spec_json, layout.trial_metrics_json, layout.trial_metrics_csv)) + "</p>",
        "<h2>Trial metrics</h2>", _metric_table_html(metrics),
        "<p class=\"meta\">Formulas and edge cases: docs/METRICS.md in the SLM Lab repository.</p>",
    ]
    if sessions or failed:
        cols = [c for c in (*SESSION_METRICS, "num_checkpoints") if any(c in m for m in sessions.values())]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("session", "status", *cols))
        body = ""
        for idx in sorted({*sessions, *failed}):
            if idx in failed:
                body += (f"<tr class=\"failed\"><td>{idx}</td><td>failed</td>"
                         f"<td colspan=\"{max(1, len(cols))}\">{html.escape(failed[idx])}</td></tr>")
            else:
                cells = "".join(f"<td class=\"num\">{html.escape(format_value(sessions[idx].get(c)))}</td>"
                                for c in cols)
                body += f"<tr><td><a href=\"{layout.session_name(idx)}/\">{idx}</a></td><td>ok</td>{cells}</tr>"
        parts += ["<h2>Sessions</h2>", f"<div class=\"scroll\"><table><tr>{head}</tr>{body}</table></div>"]
    trial_pngs = [layout.trial_graph(k).with_suffix(".png") for k in ("return", "strength", "diagnostics")]
    trial_pngs = [p for p in trial_pngs if p.exists()]
    if trial_pngs:
        parts.append("<h2>Trial graphs</h2>")
        parts += [_figure_html(p, trial_dir, p.stem.replace("_", " ")) for p in trial_pngs]
    session_pngs = [SessionLayout(d).session_graph.with_suffix(".png") for d in graphs.session_folders(trial_dir)]
    session_pngs = [p for p in session_pngs if p.exists()]
    if session_pngs:
        parts.append("<h2>Session graphs</h2>")
        parts += [_figure_html(p, trial_dir, p.parent.name) for p in session_pngs]
    path = layout.report_html
    io.write_text(path, _page(f"{spec.name}: trial report", "\n".join(parts)))
    return path


def write_experiment_report(exp_dir: Path, experiment_df: pd.DataFrame, search_keys: Sequence[str],
                            title: str | None = None) -> Path:
    """A search's `experiment_graph.{png,html}` and `report.html` ranking trials by strength.

    A `trial_dir` column (paths) in `experiment_df` links each row to its trial report.
    """
    exp_dir = Path(exp_dir)
    layout = ExperimentLayout(exp_dir)
    title = title or exp_dir.name
    try:
        graphs.plot_experiment(experiment_df, list(search_keys), layout.experiment_graph)
    except Exception:
        logger.warning("experiment graph of %s failed", exp_dir, exc_info=True)
    try:
        from slm_lab.analysis.search_graphs import plot_parallel

        plot_parallel(experiment_df, list(search_keys), exp_dir / "experiment_parallel")
    except Exception:
        logger.warning("parallel coordinates of %s failed", exp_dir, exc_info=True)
    df = experiment_df.copy()
    if "strength" in df.columns:
        df = df.sort_values("strength", ascending=False, na_position="last", kind="stable")
    key_cols = [c for c in (graphs.column_for_key(df, k) for k in search_keys) if c is not None]
    metric_cols = [m for m in FITNESS_METRICS if m in df.columns]
    lead = [c for c in ("trial",) if c in df.columns]
    cols = [*lead, *dict.fromkeys(key_cols), *metric_cols]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + ("<th>report</th>" if "trial_dir" in df else "")
    body = ""
    for _, row in df.iterrows():
        cells = "".join(f"<td class=\"num\">{html.escape(format_value(row[c]))}</td>" for c in cols)
        if "trial_dir" in df:
            report = RunLayout(Path(str(row["trial_dir"]))).report_html
            target = report if report.is_absolute() else exp_dir / report
            cells += f"<td><a href=\"{html.escape(_rel(target, exp_dir))}\">report</a></td>"
        body += f"<tr>{cells}</tr>"
    parts = [f"<h1>{html.escape(title)}: search</h1>",
             f"<p class=\"meta\">{len(df)} trial(s), ranked by strength. Searched: "
             f"{html.escape(', '.join(search_keys) or 'nothing')}</p>",
             "<h2>Trials</h2>", f"<div class=\"scroll\"><table><tr>{head}</tr>{body}</table></div>"]
    png = layout.experiment_graph.with_suffix(".png")
    if png.exists():
        parts += ["<h2>Fitness vs hyperparameters</h2>",
                  _figure_html(png, exp_dir, "each metric vs each searched value, colour = strength")]
    if (exp_dir / "experiment_parallel.html").exists():
        parts.append("<p><a href=\"experiment_parallel.html\">Parallel coordinates</a> over the searched values, "
                     "coloured by strength</p>")
    path = layout.report_html
    io.write_text(path, _page(f"{title}: search report", "\n".join(parts)))
    return path
