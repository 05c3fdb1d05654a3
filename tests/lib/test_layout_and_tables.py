"""The run layout names every file of a run; tables are appended a line at a time and a torn
last line (a kill mid-write) never reaches a reader or the next row."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from slm_lab.lib.layout import ExperimentLayout, RunLayout, SessionLayout, TableLayout, pair_name
from slm_lab.lib.tables import append_row, read_table, write_table

REPO = Path(__file__).resolve().parents[2]


def test_the_layout_names_every_file_of_a_run(tmp_path: Path):
    run = RunLayout(tmp_path / "dqn_2026_01_01_000000")
    s = run.session(3)
    assert s.dir == run.dir / "session_3"
    assert (s.train_csv.name, s.eval_csv.name, s.bodies_csv.name, s.metrics_json.name) == \
        ("train.csv", "eval.csv", "bodies.csv", "metrics.json")
    assert s.checkpoint == s.dir / "model" / "checkpoint.pt"
    assert (s.agent_model(0, "best").name, s.agent_model(2, "latest").name) == ("best.pt", "agent2_latest.pt")
    assert s.memory_name(1, 4000) == "memory_a1_f4000.npz"
    assert (s.done_file.name, s.error_file.name, s.log_file.name) == ("session_done.json", "error.txt", "session.log")
    assert s.pair(1, 0).dir == s.dir / "a1_e0" and pair_name(1, 0) == "a1_e0"
    assert s.team("prey", 1).dir == s.dir / "team_prey_e1" and run.team("prey", 1).dir == run.dir / "team_prey_e1"
    assert (run.spec_json.name, run.log_txt.name, run.report_html.name) == ("spec.json", "log.txt", "report.html")
    assert run.trial_graph("return").name == "trial_graph_return"
    assert SessionLayout.of_model(s.agent_model(0, "best")) == s
    assert ExperimentLayout(tmp_path).best_spec_json.name == "best_spec.json"


def test_the_layout_finds_sessions_and_pairs_in_index_order(tmp_path: Path):
    run = RunLayout(tmp_path)
    for j in (10, 2, 0):
        run.session(j).pair(0, 1).dir.mkdir(parents=True)
    (tmp_path / "session_x").mkdir()  # not a session folder
    (run.session(0).dir / "a0_eX").mkdir()
    assert [s.dir.name for s in run.sessions()] == ["session_0", "session_2", "session_10"]
    assert [p.name for p in run.session(0).pair_folders()] == ["a0_e1"]
    fresh = run.session(0)
    fresh.model_dir.mkdir()
    assert fresh.model_dir in fresh.outputs() and fresh.log_file not in fresh.outputs()


def test_no_other_module_spells_the_run_file_names():
    """Only lib/layout.py writes these names as string literals (docstrings and messages aside)."""
    names = r"train\.csv|eval\.csv|bodies\.csv|metrics\.json|checkpoint\.pt|best\.pt|latest\.pt|session_done\.json|" \
            r"error\.txt|session\.log|trial_metrics\.(json|csv)|report\.html|session_graph|trial_graph_|spec\.json|log\.txt|" \
            r"team_|experiment_df\.csv|best_spec\.json|search_plan\.json|search_done\.json|benchmark_specs\.json|memory_a[{\d]"
    pattern = re.compile(rf"""(?<![\w/])["'](?:[^"'\n]*/)?(?:{names})[^"'\n]*["']""")
    offenders = []
    for path in sorted((REPO / "slm_lab").rglob("*.py")):
        if path.name == "layout.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not re.search(r"(logger\.|raise |f\"[^\"]*\{|\"\"\"|SpecError|help=)", code):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_rows_are_appended_under_one_header_and_read_back_exactly(tmp_path: Path):
    path = TableLayout(tmp_path).train_csv
    cols = ["frame", "loss", "note"]
    append_row(path, {"frame": 1, "loss": 0.1 + 0.2, "note": "a,b"}, cols)
    append_row(path, {"frame": 2, "loss": math.nan}, cols)
    lines = path.read_text().splitlines()
    assert lines[0] == "frame,loss,note" and len(lines) == 3
    table = read_table(path)
    assert table.columns == cols and len(table) == 2
    assert table["frame"].tolist() == [1, 2] and table["loss"][0] == 0.1 + 0.2 and math.isnan(table["loss"][1])
    assert table["note"].tolist() == ["a,b", ""]
    # integers stay integers, numbers with a gap are floats with NaN, anything else is text
    assert (table["frame"].dtype, table["loss"].dtype, table["note"].dtype) == (np.int64, np.float64, object)
    assert table.rows()[0] == {"frame": 1, "loss": 0.1 + 0.2, "note": "a,b"}
    assert table.where(table["frame"] > 1)["frame"].tolist() == [2]
    pd.testing.assert_frame_equal(table.to_frame(), pd.read_csv(path, keep_default_na=False, na_values={"loss": [""]}),
                                  check_dtype=False)


def test_a_header_only_table_has_its_columns_and_no_rows(tmp_path: Path):
    path = tmp_path / "eval.csv"
    write_table(path, [], ["frame", "return"])
    table = read_table(path)
    assert table.columns == ["frame", "return"] and table.empty and table.rows() == []


def test_a_torn_last_line_is_dropped_on_read_and_cut_before_the_next_row(tmp_path: Path):
    path = tmp_path / "eval.csv"
    cols = ["frame", "return"]
    write_table(path, [{"frame": 1, "return": 5.0}], cols)
    with open(path, "a") as f:
        f.write("2,1.2345")  # a kill inside the append: no line end
    assert read_table(path)["frame"].tolist() == [1]
    append_row(path, {"frame": 3, "return": 7.0}, cols)
    assert path.read_text() == "frame,return\n1,5.0\n3,7.0\n"
    assert read_table(tmp_path / "missing.csv").empty


def test_appending_does_not_rewrite_the_file(tmp_path: Path):
    path = tmp_path / "train.csv"
    append_row(path, {"frame": 0}, ["frame"])
    inode = path.stat().st_ino
    for frame in range(1, 50):
        append_row(path, {"frame": frame}, ["frame"])
    assert path.stat().st_ino == inode and read_table(path)["frame"].tolist() == list(range(50))
