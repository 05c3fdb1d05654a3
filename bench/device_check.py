"""The accelerator check: one command, about 8 minutes on one GPU and 16 cores.

    python bench/device_check.py                   # all three parts
    python bench/device_check.py --part parity     # or: throughput, pong

It prints
  (a) parity: PPO and DQN on CartPole learn on the CPU and on the GPU (2 seeds each side,
      final greedy return per seed, and whether the GPU's mean lies within the CPU's spread);
  (b) throughput on the GPU: frames/s of the training loop for PPO CartPole and for DQN and
      PPO on ALE/Pong-v5 (ale-py's native vector env), with meta.compile and ConvNet bf16 off
      and on (each option alone);
  (c) a 3-minute PPO Pong run (64 envs) whose return should rise from about -21,
and writes the figures as JSON to --out (default: device_check.json in the data dir).
CUDA graphs are not part of the lab (see docs/BENCHMARKS.md "Accelerators").

On the accelerator machine (Python 3.12 with its own CUDA torch and no network), the lab's
other pure-Python dependencies travel as wheels: bench/device_wheels.sh downloads them here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_session(spec_file: str, name: str, overrides: list[str], seconds: float | None = None) -> dict[str, Any]:
    """One in-process session; its loop frames/s and final greedy return. `seconds` stops the
    run early through its frame budget (measured on a probe run first)."""
    import pandas as pd

    from slm_lab.control.session import Session
    from slm_lab.spec.loader import load_spec

    spec = load_spec(spec_file, name, overrides=overrides)
    folder = Path(tempfile.mkdtemp(prefix="device_check_"))
    start = time.perf_counter()
    Session(spec, folder, trial=0, session=0).run()
    wall = time.perf_counter() - start
    train = pd.read_csv(folder / "train.csv")
    evals = pd.read_csv(folder / "eval.csv")
    loop_s = float(train["wall_t"].iloc[-1])
    frames = int(train["frame"].iloc[-1])
    return {"frames": frames, "loop_fps": frames / loop_s if loop_s else math.nan, "whole_s": wall,
            "final_eval": float(evals["return"].iloc[-1]), "first_return": float(train["return"].dropna().iloc[0])
            if train["return"].notna().any() else math.nan, "last_return_ma": float(train["return_ma"].iloc[-1])}


def parity() -> dict[str, Any]:
    cases = {"ppo": ("benchmark/ppo/ppo_cartpole.json", "ppo_cartpole", 60_000),
             "dqn": ("benchmark/dqn/dqn_cartpole.json", "dqn_cartpole", 40_000)}
    out: dict[str, Any] = {}
    for key, (file, name, frames) in cases.items():
        for device in ("false", "true"):
            returns = []
            for seed in (0, 1):
                r = run_session(file, name, [f"agent.0.net.gpu={device}", f"env.0.max_frame={frames}", f"meta.seed={seed}",
                                             "meta.max_session=1", f"meta.eval_frequency={frames}", "meta.eval_episodes=8"])
                returns.append(r["final_eval"])
                print(f"parity {key} gpu={device} seed {seed}: final greedy return {r['final_eval']:.1f}, loop {r['loop_fps']:.0f} fps", flush=True)
            out[f"{key}_{'gpu' if device == 'true' else 'cpu'}"] = returns
        cpu, gpu = out[f"{key}_cpu"], out[f"{key}_gpu"]
        spread = max(abs(cpu[0] - cpu[1]), 0.1 * max(abs(x) for x in cpu))  # two seeds: their gap, at least 10%
        within = abs(sum(gpu) / 2 - sum(cpu) / 2) <= spread + abs(gpu[0] - gpu[1])
        out[f"{key}_within_noise"] = within
        print(f"parity {key}: cpu {cpu}, gpu {gpu} -> {'within noise' if within else 'DIFFERENT'}", flush=True)
    return out


THROUGHPUT = {
    # case: (spec file, spec name, frames, overrides common to every variant)
    "ppo_cartpole": ("benchmark/ppo/ppo_cartpole.json", "ppo_cartpole", 100_000, ["env.0.num_envs=64"]),
    "dqn_pong": ("benchmark/dqn/dqn_pong.json", "dqn_pong", 30_000,
                 ["env.0.vectorization=ale", "agent.0.algorithm.training_start_step=5000"]),
    "ppo_pong": ("benchmark/ppo/ppo_pong.json", "ppo_pong", 60_000, ["env.0.vectorization=ale", "env.0.num_envs=64"]),
}
VARIANTS = {"eager": [], "compile": ["meta.compile=true"], "bf16": ["agent.0.net.bf16=true"]}


def throughput() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case, (file, name, frames, common) in THROUGHPUT.items():
        for variant, extra in VARIANTS.items():
            if variant == "bf16" and "cartpole" in case:
                continue  # bf16 is a ConvNet option
            overrides = [*common, *extra, "agent.0.net.gpu=true", f"env.0.max_frame={frames}", "meta.max_session=1",
                         f"meta.log_frequency={frames // 4}", f"meta.eval_frequency={frames}", "meta.eval_episodes=1",
                         "meta.torch_threads=4"]
            try:
                r = run_session(file, name, overrides)
                out[f"{case}_{variant}"] = r["loop_fps"]
                print(f"throughput {case} {variant}: loop {r['loop_fps']:.0f} frames/s (whole {r['whole_s']:.0f} s)", flush=True)
            except Exception as e:  # one variant failing must not hide the others' figures
                out[f"{case}_{variant}"] = f"failed: {str(e).splitlines()[0][:200]}"
                print(f"throughput {case} {variant}: FAILED {e}", flush=True)
    return out


def pong(seconds: float = 180.0) -> dict[str, Any]:
    """PPO Pong for about `seconds`: the frame budget from a 20k-frame probe's speed."""
    common = ["env.0.vectorization=ale", "env.0.num_envs=64", "agent.0.net.gpu=true", "meta.max_session=1",
              "meta.eval_episodes=2", "meta.torch_threads=4"]
    probe = run_session("benchmark/ppo/ppo_pong.json", "ppo_pong", [*common, "env.0.max_frame=20480",
                                                                     "meta.log_frequency=10240", "meta.eval_frequency=20480"])
    frames = int(probe["loop_fps"] * seconds) // 8192 * 8192
    r = run_session("benchmark/ppo/ppo_pong.json", "ppo_pong", [*common, f"env.0.max_frame={frames}",
                                                                 f"meta.log_frequency={frames // 20}", f"meta.eval_frequency={frames}",
                                                                 f"agent.0.algorithm.clip_eps_spec.end_step={frames}"])
    print(f"pong: {frames} frames at {r['loop_fps']:.0f} frames/s; first return {r['first_return']:.1f}, "
          f"last return_ma {r['last_return_ma']:.1f}, final greedy {r['final_eval']:.1f}", flush=True)
    return {"frames": frames, **r, "rose": r["last_return_ma"] > r["first_return"] + 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "parity", "throughput", "pong"], default="all")
    parser.add_argument("--pong-seconds", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("device_check: no CUDA device here (torch %s); run it on an accelerator machine" % torch.__version__)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, {os.cpu_count()} CPUs", flush=True)
    results: dict[str, Any] = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "cpus": os.cpu_count()}
    parts = ["parity", "throughput", "pong"] if args.part == "all" else [args.part]
    for part in parts:
        start = time.perf_counter()
        results[part] = {"parity": parity, "throughput": throughput, "pong": lambda: pong(args.pong_seconds)}[part]()
        results[part]["seconds"] = round(time.perf_counter() - start, 1)
    out = args.out or Path(os.environ.get("OUT", ".")) / "device_check.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
