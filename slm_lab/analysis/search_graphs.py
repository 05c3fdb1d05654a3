"""Search graphs that read: legends naming the hyperparameters that differ, and parallel
coordinates over the searched keys coloured by strength (Inselberg 1985)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout

if TYPE_CHECKING:  # pandas is loaded by the search that owns the table, not by every run
    import pandas as pd

# filled by the lab or not a choice of the user: never what tells two trials apart
IGNORED_PREFIXES = ("meta.resolved", "name", "search")
MAX_LABEL_KEYS = 4


def _flat_spec(trial_dir: Path) -> dict[str, str] | None:
    from slm_lab.analysis.tracking import flatten

    path = RunLayout(Path(trial_dir)).spec_json
    if not path.is_file():
        return None
    return {k: v for k, v in flatten(io.read_json(path)).items() if not k.startswith(IGNORED_PREFIXES)}


def short_key(key: str) -> str:
    """`agent.0.net.optim_spec.lr__loguniform` -> `optim_spec.lr`: a search key as a column label."""
    path = key.rpartition("__")[0] or key
    parts = path.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else path


def column_for_key(df: pd.DataFrame, key: str) -> str | None:
    """The experiment table's column of a search key (by its full key, its path or its short label)."""
    for name in (key, key.rpartition("__")[0], short_key(key)):
        if name and name in df.columns:
            return name
    return None


def _short_key(key: str) -> str:
    parts = [p for p in key.split(".") if not p.isdigit()]
    return ".".join(parts[-2:]) if len(parts) > 1 else key


def differing_labels(trial_dirs: Sequence[Path]) -> dict[Path, str]:
    """{trial folder: 'optim_spec.lr=0.001, algorithm.gamma=0.9'}: the spec values that differ
    between the trials (at most MAX_LABEL_KEYS of them); {} when fewer than two trials have a
    spec.json or none differ (callers then fall back to folder names)."""
    specs = {Path(t): _flat_spec(t) for t in trial_dirs}
    specs = {t: s for t, s in specs.items() if s is not None}
    if len(specs) < 2:
        return {}
    keys = sorted({k for s in specs.values() for k in s})
    differ = [k for k in keys if len({s.get(k) for s in specs.values()}) > 1][:MAX_LABEL_KEYS]
    if not differ:
        return {}
    return {t: ", ".join(f"{_short_key(k)}={s.get(k, '–')}" for k in differ) for t, s in specs.items()}


def parallel_axes(experiment_df: pd.DataFrame, search_keys: Sequence[str]) -> list[dict]:
    """One plotly Parcoords dimension per searched key (log10 for log-uniform keys, category
    codes for choices), then strength."""
    import pandas as pd

    dims = []
    for key in search_keys:
        col = column_for_key(experiment_df, key)
        if col is None:
            continue
        x = experiment_df[col]
        if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
            values = x.to_numpy(dtype=np.float64)
            if key.endswith("__loguniform") and (values[np.isfinite(values)] > 0).all():
                dims.append({"label": f"log10 {short_key(key)}", "values": np.log10(values).tolist()})
            else:
                dims.append({"label": short_key(key), "values": values.tolist()})
        else:
            cats = sorted(set(x.astype(str)))
            dims.append({"label": short_key(key), "values": [cats.index(v) for v in x.astype(str)],
                         "tickvals": list(range(len(cats))), "ticktext": cats})
    strength = pd.to_numeric(experiment_df.get("strength", pd.Series(np.nan, index=experiment_df.index)),
                             errors="coerce").to_numpy(dtype=np.float64)
    dims.append({"label": "strength", "values": strength.tolist()})
    return dims


def plot_parallel(experiment_df: pd.DataFrame, search_keys: Sequence[str], out_prefix: Path) -> Path:
    """`{out_prefix}.html`: parallel coordinates over the searched keys, lines coloured by strength."""
    import plotly.graph_objects as go

    from slm_lab.analysis.html_page import ensure_plotly_js, figure_page

    dims = parallel_axes(experiment_df, search_keys)
    strength = np.asarray(dims[-1]["values"], dtype=np.float64)
    low = float(np.nanmin(strength)) if np.isfinite(strength).any() else 0.0
    color = [float(v) if np.isfinite(v) else low for v in strength]
    fig = go.Figure(go.Parcoords(line={"color": color, "colorscale": "Viridis", "showscale": True,
                                       "colorbar": {"title": {"text": "strength"}}}, dimensions=dims))
    fig.update_layout(title={"text": f"{Path(out_prefix).name}: searched values, colour = strength"},
                      template="plotly_white")
    path = Path(out_prefix).with_name(Path(out_prefix).name + ".html")
    ensure_plotly_js(path)
    io.write_text(path, figure_page(fig.to_json(), path.stem))
    return path
