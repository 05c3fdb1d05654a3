"""Win / draw / loss rates of a finished multi-agent run's agents, each session playing greedy games.

    PYTHONPATH=. python bench/marl_matches.py data/<run dir> [--games 200]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from slm_lab.control.matches import fixed_opponent_matches, session_matches
from slm_lab.spec.schema import Spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--games", type=int, default=200)
    parser.add_argument("--sample", action="store_true", help="act as in training (epsilon / sampled), not greedily")
    args = parser.parse_args()
    spec = Spec.model_validate(json.loads((args.run_dir / "spec.json").read_text()))
    try:
        play(spec, args)
    except ValueError as e:  # e.g. --sample with a recurrent agent: one line, exit 2
        print(f"marl_matches: {e}", file=sys.stderr)
        sys.exit(2)


def play(spec: Spec, args: argparse.Namespace) -> None:
    for session in sorted(args.run_dir.glob("session_*")):
        for a, rates in session_matches(spec, session, args.games, sample=args.sample).items():
            print(f"{session.name} agent {a} ({spec.agent[a].name}): win {rates['win']:.3f} draw {rates['draw']:.3f} "
                  f"loss {rates['loss']:.3f} mean return {rates['mean_return']:.3f} over {rates['games']} games")
        for label, rates in fixed_opponent_matches(spec, session, args.games, sample=args.sample).items():  # self-play runs
            print(f"{session.name} {label}: win {rates['win']:.3f} draw {rates['draw']:.3f} loss {rates['loss']:.3f} "
                  f"mean return {rates['mean_return']:.3f} over {rates['games']} games")


if __name__ == "__main__":
    main()
