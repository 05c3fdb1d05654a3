"""The cost of one gradient step, lab vs SB3 (vs the lean PPO loop), and what it caps.

    python bench/gradient_step.py [--case ppo_cartpole,a2c_cartpole,dqn_cartpole,sac_pendulum] [--repeats 5]

The same zoo settings as bench/throughput.py (bench/specs/zoo.json; SB3 built by the same
function). Each side trains on a filled memory, in this one process, alternating blocks of
training calls, one torch thread:
- lab: `agent.train()` on random transitions (a gradient step's cost does not depend on the
  values); for PPO and A2C this includes scoring the rollout (GAE), which SB3 does while
  collecting it, so the comparison slightly favours SB3;
- SB3: `model.train()` after a short `learn()` filled its rollout / replay buffer;
- lean: bench/lean_ppo.py's `update` (PPO only).

Printed: milliseconds per gradient step (median over repeats), the SB3/lab ratio, the lab's
gradient steps per frame at these settings, and the frames/s the lab's gradient steps alone
would allow (the loop can never be faster), next to SB3's loop frames/s measured here over a
short `learn()` past its learning_starts: their ratio is the most that any saving outside the
gradient step can give.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from throughput import sb3_model  # noqa: E402

CASES = ("ppo_cartpole", "a2c_cartpole", "dqn_cartpole", "sac_pendulum")
SB3_LOOP_FRAMES = {"ppo_cartpole": 10_240, "a2c_cartpole": 10_000, "dqn_cartpole": 3_000, "sac_pendulum": 600}


def timed(train, before=None):
    """A call that runs `before` (untimed, e.g. refilling a rollout) then times `train`."""
    def call() -> float:
        if before is not None:
            before()
        t0 = time.perf_counter()
        train()
        return time.perf_counter() - t0

    return call


def lab_agent(case: str):
    """(timed train call, gradient steps per call, gradient steps per frame) for the zoo spec."""
    from slm_lab.agent import make_agent
    from slm_lab.env.gymnasium import BodySpaces
    from slm_lab.spec.schema import Spec

    raw = json.loads((BENCH / "specs" / "zoo.json").read_text())[case]
    spec = Spec.model_validate({**raw, "name": case})
    agent_spec, n_envs = spec.agent[0], spec.env[0].num_envs
    discrete = case != "sac_pendulum"
    obs_dim, act_dim = (4, 2) if discrete else (3, 1)
    spaces = BodySpaces(obs_dim, act_dim, discrete, n_envs,
                        *(() if discrete else (np.full(1, -2, np.float32), np.full(1, 2, np.float32))))
    agent = make_agent(agent_spec, spaces, 10**9, 0)
    rng = np.random.default_rng(0)
    a = agent_spec.algorithm

    def add(n: int) -> None:
        for _ in range(n):
            actions = rng.integers(0, act_dim, n_envs) if discrete else rng.uniform(-2, 2, (n_envs, act_dim)).astype(np.float32)
            agent.memory.add(rng.normal(size=(n_envs, obs_dim)).astype(np.float32), actions,
                             rng.normal(size=n_envs).astype(np.float32), rng.normal(size=(n_envs, obs_dim)).astype(np.float32),
                             np.zeros(n_envs, bool), np.zeros(n_envs, bool))

    if case in ("ppo_cartpole", "a2c_cartpole"):
        horizon = a.training_frequency
        per_call = a.training_epoch * -(-horizon * n_envs // a.minibatch_size) if case == "ppo_cartpole" else 1
        return timed(agent.train, lambda: add(horizon)), per_call, per_call / (horizon * n_envs)
    add(5_000)
    agent.frame = 10**6  # past training_start_step
    return timed(agent.train), a.training_batch_iter, a.training_batch_iter / (a.training_frequency * n_envs)


def sb3_side(case: str):
    """(train call, gradient steps per call, SB3's loop frames/s over a short learn())."""
    model, _ = sb3_model(case, 0)
    # past learning_starts first (its random-action frames train nothing), then the timed loop
    model.learn(total_timesteps=getattr(model, "learning_starts", 0) + 512)
    start = model.num_timesteps
    t0 = time.perf_counter()
    model.learn(total_timesteps=SB3_LOOP_FRAMES[case], reset_num_timesteps=False)
    loop_fps = (model.num_timesteps - start) / (time.perf_counter() - t0)
    if case in ("ppo_cartpole", "a2c_cartpole"):
        per_call = model.n_epochs * (model.n_steps * model.n_envs // model.batch_size) if case == "ppo_cartpole" else 1
        train = model.train
    else:
        per_call = 128 if case == "dqn_cartpole" else 64
        train = lambda: model.train(gradient_steps=per_call, batch_size=model.batch_size)  # noqa: E731
    return timed(train), per_call, loop_fps


def lean_side():
    import lean_ppo as L

    torch.manual_seed(0)
    actor, critic = L.mlp(4, 2, 0.01), L.mlp(4, 1, 1.0)
    params = list(actor.parameters()) + list(critic.parameters())
    optim = torch.optim.Adam(params, lr=L.LR, eps=1e-5, fused=True)
    n = L.N_STEPS * L.N_ENVS
    batch = (torch.randn(n, 4), torch.randint(0, 2, (n,)), torch.full((n,), -0.69), torch.randn(n), torch.randn(n))

    return timed(lambda: L.update(actor, critic, optim, params, batch, L.CLIP)), L.EPOCHS * -(-n // L.MINIBATCH)


def block(call, per_call: int, seconds: float = 1.0) -> float:
    """Seconds per gradient step over repeated calls for about `seconds`."""
    total, steps = 0.0, 0
    while total < seconds:
        total += call()
        steps += per_call
    return total / steps


def bench_case(case: str, repeats: int) -> dict:
    lab_call, lab_per_call, lab_steps_per_frame = lab_agent(case)
    sb3_call, sb3_per_call, sb3_loop_fps = sb3_side(case)
    sides = {"lab": (lab_call, lab_per_call), "sb3": (sb3_call, sb3_per_call)}
    if case == "ppo_cartpole":
        sides["lean"] = lean_side()
    for call, per_call in sides.values():  # warm-up: first-call allocations, lazy imports
        block(call, per_call, 0.3)
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeats):
        for name, (call, per_call) in sides.items():
            times[name].append(block(call, per_call))
    med = {k: statistics.median(v) for k, v in times.items()}
    cap_fps = 1.0 / (med["lab"] * lab_steps_per_frame)
    ratios = [s / l for s, l in zip(times["sb3"], times["lab"])]
    print(f"\n=== {case}: {repeats} repeats, 1 torch thread ===")
    for name, v in times.items():
        print(f"  {name:5s} {1e3 * med[name]:7.3f} ms per gradient step (min {1e3 * min(v):.3f}, max {1e3 * max(v):.3f})")
    print(f"  SB3/lab per gradient step, min/med/max: {min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}")
    print(f"  lab gradient steps per frame: {lab_steps_per_frame:.4f} -> the lab's gradient steps alone allow {cap_fps:,.0f} frames/s")
    print(f"  SB3 loop here: {sb3_loop_fps:,.0f} frames/s -> the lab can be at most {cap_fps / sb3_loop_fps:.2f}x SB3 "
          f"unless its gradient step gets cheaper")
    return {"case": case, "ms_per_step": {k: 1e3 * v for k, v in med.items()}, "cap_fps": cap_fps,
            "sb3_loop_fps": sb3_loop_fps, "max_ratio": cap_fps / sb3_loop_fps}


def main() -> None:
    p = argparse.ArgumentParser(description="Cost of one gradient step, lab vs SB3.")
    p.add_argument("--case", default=",".join(CASES), help=f"comma list among {', '.join(CASES)}")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    cases = args.case.split(",")
    bad = [c for c in cases if c not in CASES]
    if bad:
        p.error(f"unknown case {bad[0]!r}: choose from {', '.join(CASES)}")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    torch.set_num_threads(1)
    for case in cases:
        bench_case(case, args.repeats)


if __name__ == "__main__":
    main()
