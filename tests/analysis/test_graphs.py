"""Graphs from synthetic folders: valid, non-blank PNGs and plotly pages using one shared plotly.js."""

from __future__ import annotations

import numpy as np
import pandas as pd
from analysis_helpers import assert_png, html_figure, table, traces, write_session

from slm_lab.analysis import chart as charts
from slm_lab.analysis import graphs
from slm_lab.analysis.metrics import eval_curve


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
    figure = html_figure(html)
    assert figure["layout"]["title"]["text"] == "demo"
    assert [a["text"] for a in figure["layout"]["annotations"]] == ["return", "loss", "exploration"]  # the panels
    series = traces(figure)
    assert set(series) == {"train return", "train return_ma", "eval return", "random policy", "loss", "explore_var"}
    train = pd.read_csv(d / "train.csv")
    drawn = series["train return"][0]
    finite = train["return"].notna()
    assert drawn["x"] == train["frame"][finite].tolist()  # the table's own points, NaN rows left out
    assert np.allclose(drawn["y"], train["return"][finite])
    assert series["random policy"][0]["y"] == [22.0, 22.0]  # the reference line at the random return
    assert np.allclose(series["eval return"][0]["y"], pd.read_csv(d / "eval.csv")["return"])
    assert "entropy" not in series  # an all-NaN column draws nothing


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
    chart, strength = graphs.trial_charts(sessions, 22.0, "t")
    mean_line = [i for i in chart.panels[0].items if isinstance(i, charts.Line) and i.name == "mean eval return"][0]
    assert len(mean_line.x) == 11  # 11 checkpoints, not 3 x 11 jittered frames
    evals = np.stack([eval_curve(s.eval)[2] for s in sessions])
    assert np.allclose(mean_line.y, evals.mean(axis=0))  # the mean of the sessions at each checkpoint
    band = [i for i in chart.panels[0].items if isinstance(i, charts.Band)][0]
    assert np.all(np.asarray(band.low) <= mean_line.y) and np.all(mean_line.y <= np.asarray(band.high))
    strength_line = [i for i in strength.panels[0].items if i.name == "mean strength"][0]
    assert np.allclose(strength_line.y, evals.mean(axis=0) - 22.0)  # strength = return - random return
    figure = html_figure(tmp_path / "trial_graph_return.html")
    assert len(traces(figure)["sessions"]) == 2 * 3  # each session's eval and return_ma curves


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
    figure = html_figure(html)
    points = [t for t in figure["data"] if t["mode"] == "markers"]
    assert len(points) == 6 and all(len(t["y"]) == n for t in points)  # one point per trial in each panel
    assert sorted(points[0]["y"]) == sorted(df["strength"].tolist())


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


def test_render_of_hand_made_chart_draws_each_item(tmp_path):
    chart = charts.Chart("c", [charts.Panel("p", "y units", "frames", items=[
        charts.Line([0, 1, 2], [0, 1, np.nan], "line"),
        charts.Band([0, 1, 2], [0, 0, 0], [1, 2, 3], "band"),
        charts.HLine(0.5, "ref")])], width_in=6.0, row_height_in=3.0)
    png, html = charts.write_chart(chart, tmp_path / "c")
    assert_png(png)
    import matplotlib.image as mpimg

    assert mpimg.imread(png).shape[:2] == (360, 600)  # (3.0 + 0.6) x 6.0 inches at 100 dpi
    figure = html_figure(html)
    series = traces(figure)
    assert series["line"][0]["x"] == [0, 1] and series["line"][0]["y"] == [0.0, 1.0]  # the NaN point dropped
    assert series["band"][0]["fill"] == "toself" and series["band"][0]["y"] == [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]
    assert series["band"][0]["x"] == [0, 1, 2, 2, 1, 0]  # along the top, back along the bottom
    assert series["ref"][0]["x"] == [0.0, 2.0] and series["ref"][0]["y"] == [0.5, 0.5]  # across the x range
    assert figure["layout"]["yaxis"]["title"]["text"] == "y units"
    assert figure["layout"]["xaxis"]["title"]["text"] == "frames"


def test_tables_with_nan_everywhere_still_draw():
    tr = table([0, 100, 200])
    ev = table([0, 100])
    chart = graphs.session_chart(tr, ev, float("nan"), "empty")
    assert charts.render_png(chart)[:4] == b"\x89PNG"
    assert "Plotly.newPlot" in charts.render_html(chart)
    assert all(not any(charts._has_data(i) for i in p.items) for p in chart.panels)  # each panel says "no data"


def _pixels_of(png: bytes, rgb: tuple[int, int, int]) -> int:
    import io

    from matplotlib.image import imread

    img = (imread(io.BytesIO(png))[..., :3] * 255).round().astype(int)
    return int((np.abs(img - np.array(rgb)).sum(axis=-1) < 30).sum())


def test_a_line_of_one_point_is_drawn_and_panels_stay_inside_the_figure():
    """A trial with one eval has a one-point curve: drawn as a line alone it would be invisible."""
    lone = charts.Line(np.array([5000.0]), np.array([100.0]), "eval", color="#ff0000", legend=False)
    panels = [charts.Panel("eval", "return", "frames", items=[lone]),
              charts.Panel("other", "return", "frames", items=[charts.Line(np.arange(3.0), np.arange(3.0), "l")])]
    chart = charts.Chart("one point", panels, ncols=2, sharex=False, width_in=8.0)
    assert _pixels_of(charts.render_png(chart), (255, 0, 0)) > 5
    margins = charts._margins(chart.width_in, chart.row_height_in * chart.nrows + 0.6, chart)
    assert 0 < margins["left"] < margins["right"] < 1 and 0 < margins["bottom"] < margins["top"] < 1


def _plotly_built(chart: charts.Chart, figure: dict) -> dict:
    """The same figure built by plotly's Python: make_subplots for the grid, every trace and the
    layout through its validated graph objects (an invalid property would raise here)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=chart.nrows, cols=chart.ncols, shared_xaxes=chart.sharex,
                        subplot_titles=[p.title for p in chart.panels],
                        vertical_spacing=min(0.12, 0.5 / chart.nrows), horizontal_spacing=0.08)
    for trace in figure["data"]:
        trace = dict(trace)
        n = int(trace.pop("xaxis")[1:] or 1)
        trace.pop("yaxis")
        fig.add_trace(go.Scatter(**{k: v for k, v in trace.items() if k != "type"}),
                      row=(n - 1) // chart.ncols + 1, col=(n - 1) % chart.ncols + 1)
    axes = {}
    for idx, panel in enumerate(chart.panels):
        suffix = "" if idx == 0 else str(idx + 1)
        axes[f"yaxis{suffix}"] = {"title": {"text": panel.ylabel}}
        xaxis = ({"title": {"text": panel.xlabel}} if panel.xlabel else {}) | ({"type": "log"} if panel.xlog else {})
        if xaxis:
            axes[f"xaxis{suffix}"] = xaxis
    fig.update_layout(axes)
    fig.update_layout(title={"text": chart.title}, template="plotly_white", height=int(260 * chart.nrows + 120),
                      width=None if chart.ncols == 1 else 420 * chart.ncols, margin={"l": 60, "r": 30, "t": 80, "b": 50})
    import json

    return json.loads(fig.to_json())


def _assert_same_json(a, b, path="figure"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            _assert_same_json(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_json(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None and np.isclose(a, b, rtol=1e-12, atol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_html_figures_are_the_figures_plotly_builds(tmp_path):
    """The pages write plotly.js's JSON directly (no graph objects at run time); it must be the
    figure plotly's make_subplots and graph objects build, for every kind of chart item, shared
    and free x axes, one to three columns, log axes and colour bars."""
    x = np.arange(10.0)
    panels = [
        charts.Panel("lines </script>", "y1", "x1", items=[charts.Line(x, x ** 2, "a", dash=True, markers=True),
                                                    charts.Band(x, x - 1, x + 1, "band"), charts.HLine(3.0, "ref")]),
        charts.Panel("points", "y2", items=[charts.Line([1.0], [2.0], "one point"),
                                            charts.Points(x, x, "pts", text=[f"t{i}" for i in range(10)])]),
        charts.Panel("log x", "y3", "x3", xlog=True, items=[
            charts.Line(x + 1, np.where(x > 5, np.nan, x), "gaps", legend=False),
            charts.Line(x, [np.nan] * 10, "no data"),
            charts.Points(x + 1, x, "coloured", c=np.where(x == 4, np.nan, x), clabel="strength")]),
    ]
    for ncols, sharex in [(1, True), (2, True), (2, False), (3, True), (3, False)]:
        chart = charts.Chart("a chart", panels * ncols, ncols=ncols, sharex=sharex)
        page = tmp_path / f"c{ncols}{sharex}.html"
        page.write_text(charts.render_html(chart))
        figure = html_figure(page)
        _assert_same_json(figure, _plotly_built(chart, figure))
