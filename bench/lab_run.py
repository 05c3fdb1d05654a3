"""One timed `slm-lab run` in a throwaway data dir, as the bench scripts use it: the
whole-process wall time, the first session's training-loop frames/s (its last train.csv row:
frame / wall_t; NaN without one, e.g. in search mode) and the trial's final greedy return."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabRun:
    wall_s: float
    loop_fps: float
    final_return: float


def run_lab(spec_file: Path, name: str, mode: str, sets: list[str], env: dict[str, str] | None = None,
            keep_dir: Path | None = None) -> LabRun:
    """Run and time one command; its data dir is thrown away unless `keep_dir` names one to keep."""
    with tempfile.TemporaryDirectory(prefix="slm_bench_") as scratch:
        return _run(spec_file, name, mode, sets, env or {}, Path(keep_dir or scratch))


def _run(spec_file: Path, name: str, mode: str, sets: list[str], env: dict[str, str], data: Path) -> LabRun:
    cmd = [str(Path(sys.executable).parent / "slm-lab"), "run", str(spec_file), name, mode]
    for s in sets:
        cmd += ["-s", s]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **env, "SLM_LAB_DATA_DIR": str(data)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-1500:]}")
    loop_fps = final = math.nan
    if tables := sorted(data.glob("*/session_0/train.csv")):
        lines = tables[0].read_text().strip().splitlines()
        row = dict(zip(lines[0].split(","), lines[-1].split(",")))
        loop_fps = float(row["frame"]) / float(row["wall_t"])
    if metrics := sorted(data.glob("*/trial_metrics.json")):
        final = float(json.loads(metrics[0].read_text())["trial"].get("final_return", math.nan))
    return LabRun(wall, loop_fps, final)
