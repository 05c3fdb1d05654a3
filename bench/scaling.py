"""Scaling on this machine: a Trial's wall time against max_session and against num_envs, and
search throughput against Ray workers.

1. `slm-lab run bench/specs/scaling.json ppo_cartpole_short train -s meta.max_session=N` for
   N in --sessions (default 1 2 4), whole-process wall time; sessions run in parallel
   processes, so with C cores the ideal is flat up to N = C, then ~N / C.
2. (--num-envs) one session of the same spec with env.0.num_envs=N for each N (CartPole's
   numpy-batched vector env): whole-process wall time and the training loop's frames/s.
3. (--search) the same spec in search mode, max_trial trials, with each trial reserving 2 CPUs
   (1 Ray worker at a time on 2 cores) or 1 CPU (2 concurrent workers): trials per hour.

    python bench/scaling.py [--sessions 1 2 4] [--frames 10000] [--num-envs 1 8 64 256] [--search] [--trials 4]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lab_run import run_lab

SPEC = Path(__file__).resolve().parent / "specs" / "scaling.json"
NAME = "ppo_cartpole_short"


def run(mode: str, sets: list[str]) -> tuple[float, float]:
    """(whole-process wall time, the first session's training-loop frames/s; NaN in search mode)."""
    result = run_lab(SPEC, NAME, mode, sets)
    return result.wall_s, result.loop_fps


def main() -> None:
    p = argparse.ArgumentParser(description="Trial wall time vs max_session; search trials/hour vs Ray workers.")
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--num-envs", type=int, nargs="*", default=[], help="also time one session at each num_envs")
    p.add_argument("--search", action="store_true", help="also time search mode with 1 and 2 concurrent Ray workers")
    p.add_argument("--trials", type=int, default=4)
    args = p.parse_args()
    budget = [f"env.0.max_frame={args.frames}", f"agent.0.algorithm.clip_eps_spec.end_step={args.frames}",
              f"meta.eval_frequency={args.frames}", f"meta.log_frequency={max(args.frames // 5, 1)}"]
    print(f"cores: {os.cpu_count()}; trial = {NAME}, {args.frames} frames per session")
    base = None
    for n in args.sessions:
        wall, _ = run("train", budget + [f"meta.max_session={n}"])
        base = base or wall
        print(f"  max_session {n}: {wall:6.1f} s whole process, {wall / base:.2f}x the 1-session time, "
              f"{n * args.frames / wall:6.0f} frames/s over all sessions", flush=True)
    if args.num_envs:
        print(f"num_envs: one session, {args.frames} frames")
    for n in args.num_envs:
        wall, loop_fps = run("train", budget + ["meta.max_session=1", f"env.0.num_envs={n}"])
        print(f"  num_envs {n:4d}: {wall:6.1f} s whole process, training loop {loop_fps:7.0f} frames/s", flush=True)
    if args.search:
        print(f"search: {args.trials} trials of 1 session each")
        for workers in (1, 2):
            cpu = 2.0 / workers  # on 2 cores: a trial reserving 2 CPUs runs alone, 1 CPU -> 2 at once
            wall, _ = run("search", budget + ["meta.max_session=1", f"meta.max_trial={args.trials}", f"meta.search_resources.cpu={cpu}"])
            print(f"  {workers} concurrent worker(s) (search_resources.cpu={cpu:g}): {wall:6.1f} s, "
                  f"{args.trials / wall * 3600:6.0f} trials/hour", flush=True)


if __name__ == "__main__":
    main()
