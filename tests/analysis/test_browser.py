"""Open the trial report and a plotly graph in headless Chromium: they must really render.

Needs /usr/bin/chromium (`apt-get install -y chromium`). Skipped where it is missing,
except under CI (env var CI set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from process_helpers import PROGRESS_TIMEOUT_S
from analysis_helpers import assert_png

from slm_lab.analysis import session_end, trial_end

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def chromium(tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install it (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")

    def run(url: str, *args: str) -> subprocess.CompletedProcess:
        profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=PROGRESS_TIMEOUT_S, cwd=tmp_path)

    return run


@pytest.fixture
def trial(tmp_path, make_trial):
    trial_dir, spec, dirs = make_trial(tmp_path / "trial", n_sessions=2)
    for d in dirs:
        session_end(d, spec)
    trial_end(trial_dir, spec, dirs, {})
    return trial_dir


def test_report_renders_in_chromium(chromium, trial, tmp_path):
    shot = tmp_path / "report.png"
    result = chromium((trial / "report.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.exists(), result.stderr[-2000:]
    assert_png(shot)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "analysis_report_screenshot.png")


def test_plotly_graph_renders_in_chromium(chromium, trial):
    result = chromium((trial / "trial_graph_return.html").as_uri(), "--dump-dom", "--virtual-time-budget=10000")
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'class="main-svg"' in result.stdout  # plotly drew its SVG: the shared plotly.js loaded and ran


def test_comparison_report_and_graphs_render_in_chromium(chromium, tmp_path, make_trial):
    from slm_lab.analysis.compare import compare

    runs = []
    for name in ("run_a", "run_b"):
        trial_dir, spec, dirs = make_trial(tmp_path / name, n_sessions=2)
        trial_end(trial_dir, spec, dirs, {})
        runs.append(trial_dir)
    out = tmp_path / "cmp"
    compare(runs, out)
    dom = chromium((out / "report.html").as_uri(), "--dump-dom", "--virtual-time-budget=5000")
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("compare_returns", "sample_efficiency", "performance_profile"):
        assert f'src="{name}.png"' in dom.stdout
    shot = tmp_path / "compare.png"
    chromium((out / "report.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,2000")
    assert_png(shot)
    # the interactive graph loads the shared plotly.js through its loader and draws
    graph = chromium((out / "performance_profile.html").as_uri(), "--dump-dom", "--virtual-time-budget=10000")
    assert 'class="main-svg"' in graph.stdout, graph.stderr[-2000:]
