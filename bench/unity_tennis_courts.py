"""Which Unity Tennis bodies share a court: random play, then the mirrored-ball match.

    PYTHONPATH=. python bench/unity_tennis_courts.py [--steps 200] [--seed 0]

Prints each court's two bodies and whether `aeb/unity.json` `ppo_tennis_snapshot` gives
them to different agents (the learner and its snapshots).
"""

from __future__ import annotations

import argparse

import numpy as np

from slm_lab.env import make_env
from slm_lab.env.unity_tennis import tennis_opponents
from slm_lab.spec.loader import load_spec


def ball_tracks(steps: int, seed: int) -> np.ndarray:
    """[B, steps + 1, 4]: every body's view of its ball under random play."""
    spec = load_spec("aeb/unity.json", "ppo_tennis_snapshot")
    env = make_env(spec.env[0], seed)
    rng = np.random.default_rng(seed)
    try:
        tracks = [env.reset()[:, 4:8]]
        for _ in range(steps):
            action = rng.integers(0, env.spaces.action_dim, env.num_bodies)
            tracks.append(env.step(action).state[:, 4:8])
    finally:
        env.close()
    return np.stack(tracks, axis=1)


def owners(spec_name: str = "ppo_tennis_snapshot") -> dict[int, int]:
    """Body -> agent, from the spec's custom body list."""
    spec = load_spec("aeb/unity.json", spec_name)
    return {body: agent for agent, _, body in spec.body.custom}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    opponents = tennis_opponents(ball_tracks(args.steps, args.seed))
    owner = owners()
    courts = sorted({tuple(sorted((b, int(o)))) for b, o in enumerate(opponents)})
    for a, b in courts:
        print(f"court: bodies {a:2d} and {b:2d}, agents {owner[a]} and {owner[b]}")
    split = all(owner[a] != owner[b] for a, b in courts)
    print(f"{len(courts)} courts; every court's players on different agents: {split}")


if __name__ == "__main__":
    main()
