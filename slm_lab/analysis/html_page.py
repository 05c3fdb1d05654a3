"""Interactive graph pages that share one copy of plotly.js per data dir.

Inlining plotly.js costs ~4.8 MB per HTML graph (a 3-trial search left 49 MB on disk, almost
all of it copies of plotly.js). Instead each page holds only its figure as JSON and loads
`plotly-<version>.min.js` from its own folder or the nearest folder above it (up to
MAX_LEVELS up). The file is written once at the data dir's root, so every run in the data dir
finds it, `slm-lab sync` copies it along with the runs, and a run folder copied anywhere else
opens offline once that one file is copied beside it (docs/OPERATIONS.md). A page outside the
data dir gets its own copy in its folder.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from slm_lab.lib import io

MAX_LEVELS = 8

_LOADER = """<script>
(function () {
  var name = %(name)s, fig = %(fig)s, level = 0;
  function draw() { Plotly.newPlot("graph", fig.data, fig.layout, {responsive: true}); }
  function tryLevel() {
    if (level > %(max)d) {
      document.getElementById("graph").textContent = "plotly.js was not found: copy " + name +
        " from the data dir into this folder or a folder above it.";
      return;
    }
    var s = document.createElement("script");
    s.src = "../".repeat(level) + name;
    level += 1;
    s.onload = draw;
    s.onerror = function () { s.remove(); tryLevel(); };
    document.head.appendChild(s);
  }
  tryLevel();
})();
</script>"""


def plotly_js_name() -> str:
    import plotly

    return f"plotly-{plotly.__version__}.min.js"


def plotly_js_home(page: Path) -> Path:
    """Where the shared plotly.js of `page` lives: the data dir's root when the page is inside
    the data dir, else the page's own folder."""
    root = io.data_root().resolve()
    folder = Path(page).resolve().parent
    return root if folder == root or root in folder.parents else folder


def ensure_plotly_js(page: Path) -> Path:
    """Write plotly.js once where `page` will find it; returns its path."""
    path = plotly_js_home(page) / plotly_js_name()
    if not path.is_file():
        from plotly.offline import get_plotlyjs

        io.write_text(path, get_plotlyjs())
    return path


def figure_page(figure_json: dict[str, Any] | str, title: str) -> str:
    """A full HTML page drawing a plotly figure (its to_json()) with the shared plotly.js."""
    fig = figure_json if isinstance(figure_json, str) else json.dumps(figure_json)
    fig = fig.replace("</", "<\\/")  # a '</script>' inside a label must not end the script
    loader = _LOADER % {"name": json.dumps(plotly_js_name()), "fig": fig, "max": MAX_LEVELS}
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"</head>\n<body>\n<div id=\"graph\" style=\"width:100%\"></div>\n{loader}\n</body></html>\n")
