"""A chart described backend-free (a `Chart` of `Panel`s holding lines, CI bands, reference
lines and scatter points), then drawn twice: a PNG with matplotlib's Agg renderer (no display,
no browser) and an interactive HTML page with plotly that loads the data dir's one shared copy
of plotly.js (html_page.py; it opens offline). matplotlib and plotly are imported only inside
the renderers. graphs.py builds the lab's charts from a run's tables.
"""

from __future__ import annotations

import functools
import io as _io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib import io

# the viridis colour scale at 10 evenly spaced stops, as plotly names it "Viridis"
VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725")
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
    from matplotlib.ticker import NullFormatter

    width, height = chart.width_in, chart.row_height_in * chart.nrows + 0.6
    fig = Figure(figsize=(width, height), dpi=dpi)
    # Fixed margins in inches, not matplotlib's constrained layout: that solver measured every
    # tick label twice and took half of each PNG's drawing time (~0.35 s of 0.7 s per graph).
    axes = fig.subplots(chart.nrows, chart.ncols, squeeze=False, sharex=chart.sharex,
                        gridspec_kw=_margins(width, height, chart))
    scatter = None
    for ax, panel in zip(axes.flat, chart.panels):
        legend = False
        for item in panel.items:
            if isinstance(item, (Line, Band)) and not _has_data(item):
                continue
            if isinstance(item, Line):
                x, y = _finite_xy(item.x, item.y)
                ax.plot(x, y, color=item.color, lw=item.width, alpha=item.opacity, ls="--" if item.dash else "-",
                        marker="o" if item.markers or len(x) == 1 else None, ms=3, label=item.name if item.legend else None)
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
        # y given: matplotlib then skips its search for top-side decorations to clear (there are
        # none here), a tenth of each PNG's drawing time; the title sits where it did
        ax.set_title(panel.title, fontsize=10, y=1.0)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        if panel.xlabel:
            ax.set_xlabel(panel.xlabel, fontsize=9)
        if panel.xlog:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short decade overlap
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


def _margins(width: float, height: float, chart: Chart) -> dict[str, float]:
    """Subplot margins as figure fractions from fixed sizes in inches: room for the y label and
    tick labels on the left, the suptitle and a panel title on top, tick and x labels below."""
    nrows, ncols = chart.nrows, chart.ncols
    inner_xlabels = any(p.xlabel for p in chart.panels[:-ncols])  # rows above the last one label their x too
    left, right, top, bottom, col_gap = 0.8, 0.2, 0.7, 0.5, 0.8
    row_gap = 0.9 if inner_xlabels else 0.65
    panel_h = (height - top - bottom - row_gap * (nrows - 1)) / nrows
    panel_w = (width - left - right - col_gap * (ncols - 1)) / ncols
    return {"left": left / width, "right": 1 - right / width, "top": 1 - top / height, "bottom": bottom / height,
            "hspace": row_gap / panel_h, "wspace": col_gap / panel_w}


def _nanmin(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.min()) if a.size else None


def _nanmax(a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else None


def _json_x(x: np.ndarray) -> list:
    return [v.item() if hasattr(v, "item") else v for v in x]


def render_html(chart: Chart) -> str:
    """Draw a chart as an interactive plotly page that loads the shared plotly.js (html_page.py).

    The figure is written as plotly.js's own JSON (data + layout), the figure plotly's Python
    `make_subplots` builds, without building it through plotly's validated graph objects: in a
    run's process, their import and validation cost ~0.2 s for the first graph and ~25 ms for
    each after (a tenth of that here). tests/analysis/test_graphs.py checks the JSON against
    the one plotly's Python builds, and test_browser.py that plotly.js draws it."""
    legend = _Legend()
    layout: dict[str, Any] = {**_subplot_grid(chart), "template": _template("plotly_white"),
                              "title": {"text": chart.title}, "height": int(260 * chart.nrows + 120),
                              "margin": {"l": 60, "r": 30, "t": 80, "b": 50}}
    if chart.ncols > 1:
        layout["width"] = 420 * chart.ncols
    traces = []
    for idx, panel in enumerate(chart.panels):
        suffix = "" if idx == 0 else str(idx + 1)  # axes are numbered row by row, as make_subplots does
        x_range = _x_range(panel)
        for item in panel.items:
            if isinstance(item, (Line, Band)) and not _has_data(item):
                continue
            traces.append({**_html_trace(item, x_range, legend), "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"})
        layout[f"yaxis{suffix}"]["title"] = {"text": panel.ylabel}
        if panel.xlabel:
            layout[f"xaxis{suffix}"]["title"] = {"text": panel.xlabel}
        if panel.xlog:
            layout[f"xaxis{suffix}"]["type"] = "log"
    from slm_lab.analysis.html_page import figure_page

    return figure_page({"data": traces, "layout": layout}, chart.title)


def _subplot_grid(chart: Chart) -> dict[str, Any]:
    """The axes and subplot titles of plotly's make_subplots(rows, cols, shared_xaxes,
    subplot_titles, vertical_spacing=min(0.12, 0.5 / rows), horizontal_spacing=0.08): every cell
    of the grid gets an x and a y axis, numbered row by row from the top left."""
    rows, cols = chart.nrows, chart.ncols
    v_gap, h_gap = min(0.12, 0.5 / rows), 0.08
    width, height = (1 - h_gap * (cols - 1)) / cols, (1 - v_gap * (rows - 1)) / rows
    layout: dict[str, Any] = {}
    titles = []
    for r in range(rows):
        top = 1 - r * (height + v_gap)
        for c in range(cols):
            n = r * cols + c + 1
            suffix = "" if n == 1 else str(n)
            left = c * (width + h_gap)
            xaxis: dict[str, Any] = {"anchor": f"y{suffix}", "domain": [left, left + width]}
            if chart.sharex and r < rows - 1:  # a column shares its bottom axis, which alone shows tick labels
                xaxis.update(matches=f"x{(rows - 1) * cols + c + 1}", showticklabels=False)
            layout[f"xaxis{suffix}"] = xaxis
            layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [max(top - height, 0.0), top]}
            if n <= len(chart.panels):
                titles.append({"font": {"size": 16}, "showarrow": False, "text": chart.panels[n - 1].title,
                               "x": left + width / 2, "xanchor": "center", "xref": "paper", "y": top,
                               "yanchor": "bottom", "yref": "paper"})
    layout["annotations"] = titles
    return layout


@functools.lru_cache(maxsize=None)
def _template_text(name: str) -> str:
    from importlib import resources

    return (resources.files("plotly") / "package_data" / "templates" / f"{name}.json").read_text()


def _template(name: str) -> dict[str, Any]:
    """One of plotly's named templates, as plotly's Python embeds it in a figure."""
    return json.loads(_template_text(name))


class _Legend:
    """One legend entry per series name across the panels, and one colour bar per chart."""

    def __init__(self) -> None:
        self.shown: set[str] = set()
        self.colorbar_done = False

    def once(self, name: str, wanted: bool = True) -> bool:
        if not wanted or name in self.shown:
            return False
        self.shown.add(name)
        return True


def _html_trace(item: Any, x_range: tuple[float, float], legend: _Legend) -> dict[str, Any]:
    """The plotly.js scatter trace of one chart item."""
    if isinstance(item, Line):
        x, y = _finite_xy(item.x, item.y)
        return {"legendgroup": item.name, "line": {"color": item.color, "dash": "dash" if item.dash else "solid",
                                                   "width": item.width},
                "mode": "lines+markers" if item.markers else "lines", "name": item.name, "opacity": item.opacity,
                "showlegend": legend.once(item.name, item.legend), "x": _json_x(x), "y": y.tolist(), "type": "scatter"}
    if isinstance(item, Band):
        x, lo, hi = _finite_xy(item.x, item.low, item.high)
        return {"fill": "toself", "fillcolor": _rgba(item.color, 0.2), "hoverinfo": "skip", "legendgroup": item.name,
                "line": {"width": 0}, "name": item.name, "showlegend": legend.once(item.name),
                "x": _json_x(np.concatenate([x, x[::-1]])), "y": np.concatenate([hi, lo[::-1]]).tolist(), "type": "scatter"}
    if isinstance(item, HLine):
        return {"legendgroup": item.name, "line": {"color": item.color, "dash": "dot", "width": 1.2}, "mode": "lines",
                "name": item.name, "showlegend": legend.once(item.name), "x": list(x_range), "y": [item.y, item.y],
                "type": "scatter"}
    marker: dict[str, Any] = {"size": 8}
    if item.c is not None:
        c = np.asarray(item.c, dtype=np.float64)
        # plotly rejects None in a colour array: show a missing value at the scale's low end
        low = _nanmin(c) if np.isfinite(c).any() else 0.0
        marker.update(cmax=_nanmax(c), cmin=_nanmin(c), color=[float(v) if np.isfinite(v) else low for v in c],
                      colorbar={"title": {"text": item.clabel}},
                      colorscale=[[k / (len(VIRIDIS) - 1), color] for k, color in enumerate(VIRIDIS)],
                      showscale=not legend.colorbar_done)
        legend.colorbar_done = True
    y = np.asarray(item.y, dtype=np.float64)
    trace = {"marker": marker, "mode": "markers", "name": item.name, "showlegend": False,
             "x": _json_x(np.asarray(item.x)), "y": [None if not np.isfinite(v) else float(v) for v in y], "type": "scatter"}
    if item.text is not None:
        trace["text"] = [str(t) for t in item.text]
    return trace


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
