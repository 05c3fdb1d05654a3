"""examples/quickstart.ipynb runs from top to bottom in a Jupyter kernel (2 sessions, spawned)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_notebook_executes(tmp_path: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    # the kernel (ipykernel of this venv) imports this tree's slm_lab and writes to the test's data dir
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert "frame" in cells[1].outputs[-1]["data"]["text/plain"]  # the eval DataFrame shown
    assert float(cells[-1].outputs[-1]["data"]["text/plain"]) >= 8  # a whole CartPole episode, policy's actions
    runs = list(isolated_dirs.glob("ppo_cartpole_*"))
    assert len(runs) == 1 and (runs[0] / "session_1" / "eval.csv").is_file()
