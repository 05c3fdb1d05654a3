"""Greedy vs stochastic play of a saved model on its Unity env: why a greedy eval can sit low.

Loads `<run>/spec.json` and `<run>/session_<s>/model/<model>.pt`, then plays `--episodes`
episodes per body with the greedy policy (argmax, as the lab's evaluation does) and as many
with the stochastic one (as in training), and prints for each: mean return, median length,
the share of episodes with a positive return, and how many ran to `env.max_t` ("stuck").
For a stuck episode it prints the last two observations: in GridWorld (agent x, y, goal x, y,
pit x, y) they show whether the agent stood still (an action into a wall leaves the
observation unchanged, so a deterministic policy repeats it until max_t).

    .venv/bin/python bench/unity_greedy_vs_stochastic.py data/ppo_gridworld_<date> [--episodes 200]

The lab's evaluation plays one greedy episode per body of the eval env; a Unity env has a
fixed number of bodies (gridworld: 1), so each eval row there is a single episode.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.control.session import load_checkpoint
from slm_lab.spec.loader import validate

SEED = 1234  # Unity ignores seeds; this seeds the agent's sampling only


def play(agent, env, episodes: int, greedy: bool, max_t: int | None) -> None:
    """The first `episodes` episodes of every body (waiting for the slow ones: counting
    whichever episodes end first would favour short episodes)."""
    per_body: list[list[tuple[float, int]]] = [[] for _ in range(env.num_bodies)]
    stuck = 0
    state = env.reset()
    env.drain_finished()
    last: list[np.ndarray] = []  # body 0's recent observations
    while min(len(eps) for eps in per_body) < episodes:
        with torch.no_grad():
            action = agent.act_greedy(state) if greedy else agent.act(state)
        last = (last + [state[0].copy()])[-2:]
        result = env.step(action)
        state = result.state
        for body, ret, length in env.drain_finished():
            if len(per_body[body]) >= episodes:
                continue
            per_body[body].append((ret, length))
            if max_t is not None and length >= max_t:
                stuck += 1
                if stuck <= 3 and body == 0:
                    print("  stuck; last observations:", np.round(np.array(last), 3).tolist())
    r = np.array([ret for eps in per_body for ret, _ in eps])
    lens = [length for eps in per_body for _, length in eps]
    first = np.array([eps[0][0] for eps in per_body])
    print(f"{'greedy' if greedy else 'stochastic':10s} {len(r)} episodes: mean return {r.mean():.3f} "
          f"(first episode of each body {first.mean():.3f}), median length {np.median(lens):.0f}, "
          f"return > 0 in {np.mean(r > 0):.0%}, ran to max_t {stuck}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run folder: data/<spec>_<date>")
    p.add_argument("--session", type=int, default=0)
    p.add_argument("--model", default="latest", help="latest | best | checkpoint")
    p.add_argument("--episodes", type=int, default=200, help="episodes per body and per mode")
    args = p.parse_args()
    spec = validate(json.loads((args.run / "spec.json").read_text()))
    env_space = EnvSpace(spec, SEED)
    try:
        agent = AgentSpace(spec, env_space, SEED).agents[0]
        agent.load_state_dict(load_checkpoint(args.run / f"session_{args.session}" / "model" / f"{args.model}.pt"),
                              weights_only=True)
        env = env_space.envs[0]
        for greedy in (True, False):
            play(agent, env, args.episodes, greedy, spec.env[0].max_t)
    finally:
        env_space.close()


if __name__ == "__main__":
    main()
