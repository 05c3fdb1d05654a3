"""Does `meta.compile` pay for itself on a long CPU run? Eager against compiled, whole process.

Each case runs `slm-lab run bench/specs/zoo.json <case> train` at the given frames, once eager
and then compiled twice: a cold compile (an empty compile cache) and a warm one (the cache the
cold run left, as a second run of the same spec finds it). Prints the whole-process wall time,
the training loop's frames/s (last train.csv row: frame / wall_t) and the final greedy return.

    python bench/compile_cost.py [--case ppo_cartpole:1000000,dqn_cartpole:200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = Path(__file__).resolve().parent / "specs" / "zoo.json"


def run(case: str, frames: int, compile_: bool, cache: str) -> tuple[float, float, float]:
    cmd = [str(Path(sys.executable).parent / "slm-lab"), "run", str(SPEC), case, "train",
           "-s", f"env.0.max_frame={frames}", "-s", f"meta.eval_frequency={frames}", "-s", f"meta.compile={str(compile_).lower()}"]
    with tempfile.TemporaryDirectory(prefix="slm_compile_") as data:
        env = {**os.environ, "SLM_LAB_DATA_DIR": data, "SLM_LAB_CACHE_DIR": cache}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-1500:]}")
        table = next(Path(data).glob("*/session_0/train.csv"))
        lines = table.read_text().strip().splitlines()
        row = dict(zip(lines[0].split(","), lines[-1].split(",")))
        metrics = json.loads(next(Path(data).glob("*/trial_metrics.json")).read_text())["trial"]
    return wall, float(row["frame"]) / float(row["wall_t"]), float(metrics.get("final_return", float("nan")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default="ppo_cartpole:1000000,dqn_cartpole:200000", help="case:frames, comma list")
    args = p.parse_args()
    for item in args.case.split(","):
        case, frames = item.split(":")
        with tempfile.TemporaryDirectory(prefix="slm_compile_cache_") as cache:
            for label, compile_ in (("eager", False), ("compiled, cold cache", True), ("compiled, warm cache", True)):
                wall, loop, final = run(case, int(frames), compile_, cache)
                print(f"{case} {int(frames):,d} frames, {label:21s}: whole {wall:7.1f} s, loop {loop:7.0f} frames/s, "
                      f"final return {final:.1f}", flush=True)


if __name__ == "__main__":
    main()
