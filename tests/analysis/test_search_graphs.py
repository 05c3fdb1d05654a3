"""Search graphs: log axes for log-uniform keys, legends of differing hyperparameters, parallel coordinates."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from analysis_helpers import assert_png, make_spec, write_session

from slm_lab.analysis import chart as charts
from slm_lab.analysis import graphs, search_graphs
from slm_lab.analysis.report import write_experiment_report
from slm_lab.lib import io


def search_df():
    return pd.DataFrame({"trial": [0, 1, 2], "agent.0.net.optim_spec.lr": [1e-4, 1e-3, 1e-2],
                         "agent.0.algorithm.name": ["DQN", "DQN", "DDQN"], "strength": [10.0, 50.0, 30.0]})


def test_log_uniform_keys_get_a_log_axis_in_both_renderers():
    keys = ["agent.0.net.optim_spec.lr__loguniform", "agent.0.algorithm.name__choice"]
    chart = graphs.experiment_chart(search_df(), keys)
    lr_panel, name_panel = chart.panels[0], chart.panels[1]
    assert lr_panel.xlog and not name_panel.xlog
    assert '"type":"log"' in charts.render_html(chart).replace(" ", "")
    assert charts.render_png(chart)[:4] == b"\x89PNG"


def test_compare_legend_names_the_hyperparameters_that_differ(tmp_path):
    for i, lr in enumerate((0.001, 0.01)):
        spec = make_spec()
        raw = spec.model_dump(mode="json")
        raw["agent"][0]["net"]["optim_spec"] = {"name": "Adam", "lr": lr}
        raw["meta"]["resolved"] = {"trial": i}  # differs too, but the lab filled it: not a label
        trial = tmp_path / "search" / f"trial_{i}"
        io.write_json(trial / "spec.json", raw)
        write_session(trial / "session_0", seed=i)
    labels = search_graphs.differing_labels([tmp_path / "search" / "trial_0", tmp_path / "search" / "trial_1"])
    assert labels[tmp_path / "search" / "trial_0"] == "optim_spec.lr=0.001"
    png, html = graphs.plot_compare([tmp_path / "search"], tmp_path / "cmp")
    assert_png(png)
    text = html.read_text()
    assert "optim_spec.lr=0.01" in text and '"name":"search/trial_0"' not in text.replace(" ", "")


def test_parallel_coordinates_hold_each_searched_key_and_strength(tmp_path):
    keys = ["agent.0.net.optim_spec.lr__loguniform", "agent.0.algorithm.name__choice"]
    dims = search_graphs.parallel_axes(search_df(), keys)
    assert [d["label"] for d in dims] == ["log10 optim_spec.lr", "algorithm.name", "strength"]
    assert np.allclose(dims[0]["values"], [-4, -3, -2]) and dims[1]["ticktext"] == ["DDQN", "DQN"]
    write_experiment_report(tmp_path, search_df(), keys)
    page = (tmp_path / "experiment_parallel.html").read_text()
    fig = json.loads(page.split("fig = ", 1)[1].split(", level = 0;", 1)[0].replace("<\\/", "</"))
    assert fig["data"][0]["type"] == "parcoords" and len(fig["data"][0]["dimensions"]) == 3
    assert "experiment_parallel.html" in (tmp_path / "report.html").read_text()
