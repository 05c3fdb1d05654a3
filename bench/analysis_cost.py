"""What the end of a run costs: the lab's session and trial analysis, piece by piece.

    python bench/analysis_cost.py [--frames 20000] [--repeats 3]

Runs one A2C CartPole trial from bench/specs/zoo.json (the run is kept in a temporary data dir),
then, in this process, times each step the lab takes after the training loop: importing the
analysis, one session's metrics and graphs, and the trial's aggregate, graphs and report. Each
PNG is also drawn with matplotlib's constrained layout, the layout the lab used before, to show
what the fixed margins saved (the same chart, in the same process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_run import run_lab  # noqa: E402

SPEC_FILE = Path(__file__).resolve().parent / "specs" / "zoo.json"


def timed(fn, repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), max(times)


def main() -> None:
    p = argparse.ArgumentParser(description="Time the lab's end-of-run analysis and graphs.")
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="slm_bench_") as keep:
        run = run_lab(SPEC_FILE, "a2c_cartpole", "train", [f"env.0.max_frame={args.frames}"], keep_dir=Path(keep))
        print(f"a2c_cartpole {args.frames} frames: whole process {run.wall_s:.1f} s, loop {run.loop_fps:.0f} f/s")
        trial_dir = next(d for d in Path(keep).iterdir() if d.is_dir())
        t0 = time.perf_counter()
        import matplotlib.figure
        from slm_lab.analysis import chart, graphs, report
        from slm_lab.spec.schema import Spec
        print(f"  import analysis + matplotlib        {time.perf_counter() - t0:6.2f} s (once per process)")
        spec = Spec.model_validate(json.loads((trial_dir / "spec.json").read_text()))
        session_dir = trial_dir / "session_0"
        for label, fn in [("session_end (metrics, 2 graphs)", lambda: report.session_end(session_dir, spec)),
                          ("trial_end (metrics, 3 graphs, report)",
                           lambda: report.trial_end(trial_dir, spec, [session_dir], {}))]:
            lo, med, hi = timed(fn, args.repeats)
            print(f"  {label:<36}{med:6.2f} s (min {lo:.2f}, max {hi:.2f})")
        data = graphs.load_session(session_dir)
        session_chart = graphs.session_chart(data.train, data.eval, 0.0, "session")
        figure = matplotlib.figure.Figure
        constrained = lambda *a, **kw: figure(*a, **kw, layout="constrained")  # noqa: E731
        lo, med, hi = timed(lambda: chart.render_png(session_chart), args.repeats)
        print(f"  one session PNG, fixed margins      {med:6.2f} s (min {lo:.2f}, max {hi:.2f})")
        with mock.patch("matplotlib.figure.Figure", constrained), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lo2, med2, hi2 = timed(lambda: chart.render_png(session_chart), args.repeats)
        print(f"  one session PNG, constrained layout {med2:6.2f} s (min {lo2:.2f}, max {hi2:.2f}); "
              f"fixed / constrained {med / med2:.2f}")


if __name__ == "__main__":
    main()
