"""Training throughput: the lab against Stable-Baselines3 (and a lean loop), side by side.

Each case trains the same algorithm with the SB3 zoo's tuned settings (reference:
published-results.md; the lab's side is bench/specs/zoo.json, which mirrors them) in the
lab, as a user runs it (`slm-lab run bench/specs/zoo.json <case> train`), and in SB3 2.9.2.
Runs alternate lab / SB3 (/ lean) within one invocation, each in its own subprocess, so
machine load hits all contestants alike and whole-process time (imports, env and net set-up,
the final evaluation) is measured. Reported per run: whole-process frames/s, training-loop
frames/s and the final greedy evaluation return (10 episodes); then the ratio lab / peer as
min / median / max over the repeats (each ratio from one adjacent pair of runs).

    python bench/throughput.py --case ppo_cartpole --repeats 3
    python bench/throughput.py --case all --frames 20000 --repeats 1      # quick look
    python bench/throughput.py --case ppo_lunar --frames 200000 --repeats 1
    python bench/throughput.py --case a2c_lunar --repeats 4      # learning at the zoo's A2C budget, both sides

Both sides use one torch thread by default (the lab's sessions do; SB3 is given the same,
which is also SB3's fastest setting for these small nets); `--sb3-threads 0` leaves SB3 at
torch's default thread count, as it runs out of the box, and gives the lab's session as many
(`meta.torch_threads` = the core count): both sides always get the same thread count.
Needs the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
SPEC_FILE = BENCH / "specs" / "zoo.json"
# case -> (default frames, contestants); SAC and LunarLander budgets are cut from the zoo's
# 20k / 1M so a side-by-side fits in minutes: override with --frames
CASES: dict[str, tuple[int, tuple[str, ...]]] = {
    # lab_sync: the lab on the lean loop's own env path (a SyncVectorEnv), so lab_sync / lean
    # is the cost of the lab's layers alone; plain "lab" steps CartPole through its default
    # numpy-batched vector env
    "ppo_cartpole": (50_000, ("lab", "sb3", "lean", "lab_sync")),
    "a2c_cartpole": (50_000, ("lab", "sb3")),
    "dqn_cartpole": (50_000, ("lab", "sb3")),
    "sac_pendulum": (5_000, ("lab", "sb3")),
    "ppo_lunar": (100_000, ("lab", "sb3")),
    "a2c_lunar": (200_000, ("lab", "sb3")),  # the zoo's budget: does SB3 itself reach its 155.8 on v3?
}
LONG_CASES = ("ppo_lunar", "a2c_lunar")  # left out of --case all
EVAL_EPISODES = 10


def lab_overrides(case: str, frames: int, seed: int) -> list[str]:
    """Budget-dependent settings: schedules that the zoo expresses as fractions of the run."""
    # the same torch thread count on both sides: --sb3-threads, or all cores for 0 (SB3's default)
    threads = SB3_THREADS or os.cpu_count() or 1
    sets = [f"env.0.max_frame={frames}", f"meta.eval_frequency={frames}", f"meta.log_frequency={max(frames // 10, 1)}",
            f"meta.seed={seed}", "meta.max_session=1", f"meta.torch_threads={threads}"]
    if case == "ppo_cartpole":  # clip range linear 0.2 -> 0 over the whole run
        sets.append(f"agent.0.algorithm.clip_eps_spec.end_step={frames}")
    if case == "dqn_cartpole":  # exploration_fraction 0.16
        sets.append(f"agent.0.algorithm.explore_var_spec.end_step={int(0.16 * frames)}")
    return sets


def run_lab(case: str, frames: int, seed: int, vectorization: str | None = None) -> dict[str, float]:
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="slm_bench_") as data:
        cmd = [str(Path(sys.executable).parent / "slm-lab"), "run", str(SPEC_FILE), case, "train"]
        extra = [f"env.0.vectorization={vectorization}"] if vectorization else []
        for s in lab_overrides(case, frames, seed) + extra + LAB_SETS:
            cmd += ["-s", s]
        env = {**os.environ, "SLM_LAB_DATA_DIR": data}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        whole_s = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"lab run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        session = next(Path(data).glob("*/session_0"))
        train = pd.read_csv(session / "train.csv")
        ev = pd.read_csv(session / "eval.csv")
        last = train.iloc[-1]
        # the session's clock starts with the training loop (after set-up): wall_t at the last row is the loop
        return {"frames": int(last["frame"]), "whole_s": whole_s, "loop_s": float(last["wall_t"]),
                "final_return": float(ev.iloc[-1]["return"])}


def run_lean(case: str, frames: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(BENCH / "lean_ppo.py"), "--frames", str(frames), "--seed", str(seed), "--json"],
                          capture_output=True, text=True)
    whole_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"lean run failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"frames": out["frames"], "whole_s": whole_s, "loop_s": out["loop_s"], "final_return": out["final_return"]}


SB3_THREADS = 1  # set from --sb3-threads
LAB_SETS: list[str] = []  # extra lab overrides, from --lab-set


def run_sb3(case: str, frames: int, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", "sb3", "--case", case, "--frames", str(frames), "--seed", str(seed),
                           "--sb3-threads", str(SB3_THREADS)],
                          capture_output=True, text=True)
    whole_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"sb3 run failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**out, "whole_s": whole_s}


# make_vec_env makes its envs with render_mode "rgb_array" unless told otherwise. LunarLander then
# adds decoration particles as Box2D bodies, and without render() calls they never expire, which
# made its physics step ~5x slower (measured: 185 against 36 us per frame, main engine on).
# The lab's envs, like gym.make's, have no render mode: both sides get the same env.
NO_RENDER = {"render_mode": None}


def sb3_model(case: str, seed: int):
    """SB3 with the zoo's hyperparameters for `case`: (model, env id)."""
    from stable_baselines3 import A2C, DQN, PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env

    def linear(start: float):
        return lambda progress_remaining: progress_remaining * start

    env_id = {"sac_pendulum": "Pendulum-v1", "ppo_lunar": "LunarLander-v3", "a2c_lunar": "LunarLander-v3"}.get(case, "CartPole-v1")
    if case == "ppo_cartpole":
        env = make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=NO_RENDER)
        model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                    learning_rate=linear(1e-3), clip_range=linear(0.2), seed=seed, device="cpu")
    elif case == "a2c_cartpole":
        env = make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=NO_RENDER)
        model = A2C("MlpPolicy", env, ent_coef=0.0, seed=seed, device="cpu")
    elif case == "dqn_cartpole":
        env = make_vec_env(env_id, n_envs=1, seed=seed, env_kwargs=NO_RENDER)
        model = DQN("MlpPolicy", env, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
                    gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                    exploration_final_eps=0.04, policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu")
    elif case == "sac_pendulum":
        env = make_vec_env(env_id, n_envs=1, seed=seed, env_kwargs=NO_RENDER)
        model = SAC("MlpPolicy", env, learning_rate=1e-3, buffer_size=1_000_000, learning_starts=100, batch_size=256,
                    tau=0.005, gamma=0.99, policy_kwargs={"net_arch": [256, 256]}, seed=seed, device="cpu")
    elif case == "ppo_lunar":
        env = make_vec_env(env_id, n_envs=16, seed=seed, env_kwargs=NO_RENDER)
        model = PPO("MlpPolicy", env, n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4,
                    ent_coef=0.01, learning_rate=3e-4, seed=seed, device="cpu")
    elif case == "a2c_lunar":
        env = make_vec_env(env_id, n_envs=8, seed=seed, env_kwargs=NO_RENDER)
        model = A2C("MlpPolicy", env, gamma=0.995, n_steps=5, learning_rate=linear(8.3e-4), ent_coef=1e-5, seed=seed, device="cpu")
    else:
        raise ValueError(case)
    return model, env_id


def sb3_worker(case: str, frames: int, seed: int, threads: int) -> dict[str, float]:
    """Runs inside its own process: SB3 with the zoo's hyperparameters for `case`."""
    import gymnasium as gym
    import torch
    from stable_baselines3.common.evaluation import evaluate_policy

    if threads > 0:  # 0: torch's default (all cores), SB3's out-of-the-box behaviour
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    model, env_id = sb3_model(case, seed)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.learn(total_timesteps=frames)
    loop_s = time.perf_counter() - t0
    eval_env = gym.make(env_id)
    eval_env.reset(seed=seed + 1_000_003)
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
    return {"frames": int(model.num_timesteps), "loop_s": loop_s, "setup_s": setup_s, "final_return": float(mean)}


RUNNERS = {"lab": run_lab, "sb3": run_sb3, "lean": run_lean,
           "lab_sync": lambda case, frames, seed: run_lab(case, frames, seed, vectorization="sync")}


def mmm(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def bench_case(case: str, frames: int, repeats: int, seed: int, contestants: tuple[str, ...]) -> dict:
    print(f"\n=== {case}: {frames} frames, {repeats} repeat(s), contestants {', '.join(contestants)} ===", flush=True)
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in contestants}
    for r in range(repeats):
        # alternate the order every repeat so neither side always runs first
        order = contestants if r % 2 == 0 else tuple(reversed(contestants))
        for c in order:
            out = RUNNERS[c](case, frames, seed + r)
            out["whole_fps"] = out["frames"] / out["whole_s"]
            out["loop_fps"] = out["frames"] / out["loop_s"]
            runs[c].append(out)
            print(f"  [{r}] {c:8s} whole {out['whole_s']:6.1f} s = {out['whole_fps']:7.0f} f/s | loop {out['loop_s']:6.1f} s = "
                  f"{out['loop_fps']:7.0f} f/s | final return {out['final_return']:8.1f}", flush=True)
    summary: dict = {"case": case, "frames": frames, "repeats": repeats, "runs": runs, "ratios": {}}
    print(f"  summary ({case}):")
    for c in contestants:
        rs = runs[c]
        per_run = ", ".join(f"{x['final_return']:.0f}" for x in rs)
        print(f"    {c:8s} median whole {statistics.median(x['whole_fps'] for x in rs):7.0f} f/s, loop "
              f"{statistics.median(x['loop_fps'] for x in rs):7.0f} f/s, final return mean "
              f"{np.mean([x['final_return'] for x in rs]):.1f} (per run: {per_run})")
    pairs = [("lab", peer) for peer in contestants if peer not in ("lab", "lab_sync")]
    if "lab_sync" in contestants and "lean" in contestants:
        pairs.append(("lab_sync", "lean"))  # same env path: the lab's layers alone
    for mine, peer in pairs:
        for kind in ("whole_fps", "loop_fps"):
            ratios = [a[kind] / b[kind] for a, b in zip(runs[mine], runs[peer])]
            summary["ratios"][f"{mine}/{peer} {kind}"] = ratios
            print(f"    ratio {mine}/{peer} {kind.replace('_fps', ''):5s} frames/s min/median/max: {mmm(ratios)}")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description="Lab vs Stable-Baselines3 training throughput (see module docstring).")
    p.add_argument("--case", default="ppo_cartpole", help=f"one of {', '.join(CASES)}, a comma list, or 'all' (excludes {', '.join(LONG_CASES)})")
    p.add_argument("--frames", type=int, default=None, help="training frames per run (default: per case)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--contestants", default=None, help="comma list among lab,sb3,lean,lab_sync (lab first); default per case")
    p.add_argument("--json-out", type=Path, default=None, help="also write all results to this JSON file")
    p.add_argument("--sb3-threads", type=int, default=1,
                   help="torch threads for SB3 (default 1, its fastest setting for these nets and what the lab uses; 0 = torch's default)")
    p.add_argument("--lab-set", action="append", default=[], metavar="PATH=VALUE",
                   help="an extra override for the lab's runs, as `slm-lab run -s` takes (repeatable), e.g. agent.0.net.init_fn=default")
    p.add_argument("--worker", choices=["sb3"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(sb3_worker(args.case, args.frames, args.seed, args.sb3_threads)))
        return
    global SB3_THREADS
    SB3_THREADS = args.sb3_threads
    LAB_SETS.extend(args.lab_set)
    cases = [c for c in CASES if c not in LONG_CASES] if args.case == "all" else args.case.split(",")
    bad = [c for c in cases if c not in CASES]
    if bad:
        p.error(f"unknown case {bad[0]!r}: choose from {', '.join(CASES)}")
    results = []
    for case in cases:
        default_frames, contestants = CASES[case]
        if args.contestants:
            contestants = tuple(args.contestants.split(","))
        results.append(bench_case(case, args.frames or default_frames, args.repeats, args.seed, contestants))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
