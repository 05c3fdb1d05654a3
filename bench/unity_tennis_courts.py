"""Which Unity Tennis bodies share a court: random play, then the mirrored-ball match.

    PYTHONPATH=. python bench/unity_tennis_courts.py [--steps 200] [--seed 0]

Prints each court's two bodies and whether `aeb/unity.json` `ppo_tennis_snapshot` gives
them to different agents (the learner and its snapshots).
"""

from __future__ import annotations

import argparse

from slm_lab.env import make_env
from slm_lab.env.unity_tennis import play_for_opponents
from slm_lab.spec.loader import load_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = load_spec("aeb/unity.json", "ppo_tennis_snapshot")
    owner = {body: agent for agent, _, body in spec.body.custom}
    env = make_env(spec.env[0], args.seed)
    try:
        opponents = play_for_opponents(env, args.steps, args.seed)
    finally:
        env.close()
    courts = sorted({tuple(sorted((b, int(o)))) for b, o in enumerate(opponents)})
    for a, b in courts:
        print(f"court: bodies {a:2d} and {b:2d}, agents {owner[a]} and {owner[b]}")
    split = all(owner[a] != owner[b] for a, b in courts)
    print(f"{len(courts)} courts; every court's players on different agents: {split}")


if __name__ == "__main__":
    main()
