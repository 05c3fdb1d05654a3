"""Where a lab session's time goes: cProfile of one in-process Session, summed by layer.

    python bench/profile_session.py [--case ppo_cartpole] [--frames 20000] [--top 25]

Buckets (cumulative time of the lab's own entry points): env stepping (GymEnv.step),
acting (Algorithm.act), training (Algorithm.train: gradient steps), storing (memory.add),
and the rest of the loop (the lab's bookkeeping: AEB gathering, clocks, log / eval rows, and
what runs once on the first steps: lazy imports, first-call allocations). The session's
set-up (envs, nets, optimizers) and its end-of-run analysis are reported apart.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

SPEC_FILE = Path(__file__).resolve().parent / "specs" / "zoo.json"


def main() -> None:
    p = argparse.ArgumentParser(description="Profile one lab Session by layer.")
    p.add_argument("--case", default="ppo_cartpole")
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = p.parse_args()

    from slm_lab.control.session import Session
    from slm_lab.spec.schema import Spec

    raw = json.loads(SPEC_FILE.read_text())[args.case]
    raw["env"][0]["max_frame"] = args.frames
    raw["meta"].update(eval_frequency=args.frames, log_frequency=max(args.frames // 10, 1))
    if args.case == "ppo_cartpole":
        raw["agent"][0]["algorithm"]["clip_eps_spec"]["end_step"] = args.frames
    spec = Spec.model_validate({**raw, "name": args.case})
    with tempfile.TemporaryDirectory() as d:
        session = Session(spec, Path(d) / "session_0")
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(session.run)
        total = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    cum = {}
    for (file, _, func), (_, _, _, ct, _) in stats.stats.items():
        key = (Path(file).name, func)
        cum[key] = max(cum.get(key, 0.0), ct)

    def get(file: str, func: str) -> float:
        return sum(v for (f, fn), v in cum.items() if f == file and fn == func)

    setup = get("session.py", "_build")  # envs, nets, optimizers: once per session, not per step
    loop = get("session.py", "run") - get("session.py", "finish") - setup
    env = get("gymnasium.py", "step")
    def outermost(func: str, *files: str) -> float:
        # an override calling super() counts in both files: the outer call's time holds the inner's
        return max((v for (f, fn), v in cum.items() if fn == func and f in files), default=0.0)

    train = outermost("train", "ppo.py", "actor_critic.py", "off_policy.py", "reinforce.py", "sarsa.py")
    act = outermost("act", "base.py", "actor_critic.py", "dqn.py", "sac.py", "td3.py")
    store = outermost("add", "onpolicy.py", "replay.py")
    evals = get("session.py", "eval_row")
    logs = get("session.py", "log_row")
    frames = session.env.clock.frame
    print(f"{args.case}: {frames} frames, session.run {total:.2f} s under cProfile (profiling adds overhead)")
    for name, v in (("env step", env), ("acting", act), ("training (gradient steps)", train), ("storing", store),
                    ("log rows", logs), ("eval rows", evals)):
        print(f"  {name:28s} {v:7.2f} s  {100 * v / loop:5.1f}% of the loop  {1e6 * v / frames:7.1f} us/frame")
    rest = loop - env - act - train - store - logs - evals
    print(f"  {'other loop bookkeeping':28s} {rest:7.2f} s  {100 * rest / loop:5.1f}% of the loop  {1e6 * rest / frames:7.1f} us/frame")
    print(f"  {'set-up before the loop':28s} {setup:7.2f} s")
    print(f"  {'after the loop (analysis)':28s} {get('session.py', 'finish'):7.2f} s")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
