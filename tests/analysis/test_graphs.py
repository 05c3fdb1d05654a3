"""Graphs from synthetic folders: valid, non-blank PNGs and plotly pages using one shared plotly.js."""

from __future__ import annotations

import numpy as np
import pandas as pd
from analysis_helpers import assert_png, table, write_session

from slm_lab.analysis import graphs


def assert_html_graph(path):
    from slm_lab.analysis.html_page import plotly_js_name

    text = path.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<html") or "<!doctype html>" in text[:200].lower()
    assert "Plotly.newPlot" in text
    assert "http" not in text  # nothing fetched from the network: opens offline
    assert len(text) < 500_000  # plotly.js is not inlined ...
    # ... but shared: the page's folder or one above it holds it
    assert any((d / plotly_js_name()).stat().st_size > 1_000_000 for d in [path.parent, *path.parents]
               if (d / plotly_js_name()).is_file())


def test_session_graph(tmp_path):
    d = write_session(tmp_path / "session_0")
    png, html = graphs.plot_session(d, random_return=22.0, title="demo")
    assert png == d / "session_graph.png" and html == d / "session_graph.html"
    assert_png(png)
    assert_html_graph(html)


def test_session_graph_with_one_row_and_all_nan_columns(tmp_path):
    d = write_session(tmp_path / "session_0", rows=1)  # the single train row has a NaN return
    png, html = graphs.plot_session(d, random_return=float("nan"))
    assert_png(png)
    assert "Plotly.newPlot" in html.read_text()


def test_session_graph_with_empty_folder(tmp_path):
    d = tmp_path / "session_0"
    d.mkdir()
    png, _ = graphs.plot_session(d, random_return=1.0)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_trial_graphs_align_jittered_sessions(tmp_path):
    sessions = [graphs.load_session(write_session(tmp_path / f"session_{s}", seed=s, frame_offset=3 * s))
                for s in range(3)]
    paths = graphs.plot_trial(tmp_path, sessions, random_return=22.0, title="trial")
    names = sorted(p.name for p in paths)
    assert names == ["trial_graph_return.html", "trial_graph_return.png",
                     "trial_graph_strength.html", "trial_graph_strength.png"]
    for p in paths:
        assert_png(p) if p.suffix == ".png" else assert_html_graph(p)
    chart, _ = graphs.trial_charts(sessions, 22.0, "t")
    mean_line = [i for i in chart.panels[0].items if isinstance(i, graphs.Line) and i.name == "mean eval return"][0]
    assert len(mean_line.x) == 11  # 11 checkpoints, not 3 x 11 jittered frames


def test_experiment_graph(tmp_path):
    rng = np.random.default_rng(0)
    n = 8
    df = pd.DataFrame({
        "trial": range(n),
        "agent.0.algorithm.gamma": rng.uniform(0.9, 0.999, n),
        "agent.0.net.hid_layers": [str([64] * (1 + i % 2)) for i in range(n)],
        "strength": rng.normal(100, 30, n),
        "sample_efficiency": rng.uniform(1e-4, 1e-3, n),
        "stability": rng.uniform(0.5, 1, n),
        "consistency": [np.nan] * n,
    })
    keys = ["agent.0.algorithm.gamma__uniform", "agent.0.net.hid_layers__choice"]
    png, html = graphs.plot_experiment(df, keys, tmp_path / "experiment_graph")
    assert_png(png)
    assert_html_graph(html)
    chart = graphs.experiment_chart(df, keys)
    assert chart.ncols == 2 and len(chart.panels) == 2 * 3  # all-NaN consistency is left out


def test_compare_graph(tmp_path):
    for run in ("run_a", "run_b"):
        for s in range(2):
            write_session(tmp_path / run / f"session_{s}", seed=s + (run == "run_b") * 10)
    # a run folder holding trial folders counts too
    write_session(tmp_path / "search_c" / "trial_0" / "session_0", seed=5)
    png, html = graphs.plot_compare([tmp_path / "run_a", tmp_path / "run_b", tmp_path / "search_c"],
                                    tmp_path / "compare")
    assert_png(png)
    assert_html_graph(html)
    text = html.read_text()
    assert "run_a" in text and "run_b" in text and "trial_0" in text


def test_compare_graph_draws_each_pair_of_a_multi_pair_run(tmp_path):
    for s in range(2):  # one agent in two envs: session_<j>/a0_e<e>/ hold the tables
        for pair in ("a0_e0", "a0_e1"):
            write_session(tmp_path / "multitask" / f"session_{s}" / pair, seed=s)
    write_session(tmp_path / "single" / "session_0")
    png, html = graphs.plot_compare([tmp_path / "multitask", tmp_path / "single"], tmp_path / "compare")
    assert_png(png)
    text = html.read_text()
    assert "multitask a0_e0" in text and "multitask a0_e1" in text and "single" in text


def test_render_png_of_hand_made_chart_has_content():
    chart = graphs.Chart("c", [graphs.Panel("p", items=[
        graphs.Line([0, 1, 2], [0, 1, np.nan], "line"),
        graphs.Band([0, 1, 2], [0, 0, 0], [1, 2, 3], "band"),
        graphs.HLine(0.5, "ref")])])
    data = graphs.render_png(chart)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Plotly.newPlot" in graphs.render_html(chart)


def test_tables_with_nan_everywhere_still_draw():
    tr = table([0, 100, 200])
    ev = table([0, 100])
    chart = graphs.session_chart(tr, ev, float("nan"), "empty")
    assert graphs.render_png(chart)[:4] == b"\x89PNG"
