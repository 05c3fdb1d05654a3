"""Does `meta.compile` pay for itself on a long CPU run? Eager against compiled, whole process.

Each case runs `slm-lab run bench/specs/zoo.json <case> train` at the given frames, once eager
and then compiled twice: a cold compile (an empty compile cache) and a warm one (the cache the
cold run left, as a second run of the same spec finds it). Prints the whole-process wall time,
the training loop's frames/s (last train.csv row: frame / wall_t) and the final greedy return.

    python bench/compile_cost.py [--case ppo_cartpole:1000000,dqn_cartpole:200000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lab_run import run_lab

SPEC = Path(__file__).resolve().parent / "specs" / "zoo.json"


def run(case: str, frames: int, compile_: bool, cache: str) -> tuple[float, float, float]:
    sets = [f"env.0.max_frame={frames}", f"meta.eval_frequency={frames}", f"meta.compile={str(compile_).lower()}"]
    result = run_lab(SPEC, case, "train", sets, env={"SLM_LAB_CACHE_DIR": cache})
    return result.wall_s, result.loop_fps, result.final_return


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
