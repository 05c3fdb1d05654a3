"""Per-body and team episode returns at the end of a multi-agent run's training, per session.

    PYTHONPATH=. python bench/team_returns.py data/<run dir> [--last 100]

Reads every `bodies.csv` of each session (one per agent and env, or the session's own when
one agent owns the env) and reports, over each body's last `--last` training episodes, its
mean return, and the team return: the sum over the env's bodies of the episodes that ended
on the same frame (in a cooperative MPE env all bodies end together).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def session_bodies(session: Path) -> pd.DataFrame:
    """All bodies' finished training episodes of env 0 (body indices are the env's own)."""
    files = sorted(session.glob("a*_e0/bodies.csv")) or [session / "bodies.csv"]
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--last", type=int, default=100, help="episodes per body at the end of training")
    args = parser.parse_args()
    teams = []
    for session in sorted(args.run_dir.glob("session_*")):
        rows = session_bodies(session)
        # the n-th episode of every body ends on the same step: number them per body
        rows["episode"] = rows.groupby("body").cumcount()
        last = rows[rows["episode"] >= rows.groupby("body")["episode"].transform("max") - args.last + 1]
        per_body = last.groupby("body")["return"].mean()
        team = last.groupby("episode")["return"].sum()
        teams.append(team.mean())
        bodies = ", ".join(f"body {b}: {r:.2f}" for b, r in per_body.items())
        print(f"{session.name}: {bodies}; per body {per_body.mean():.2f}; team {team.mean():.2f} "
              f"(last {args.last} episodes per body, frame {int(rows['frame'].max())})")
    if teams:
        print(f"team mean over sessions: {sum(teams) / len(teams):.2f}")


if __name__ == "__main__":
    main()
