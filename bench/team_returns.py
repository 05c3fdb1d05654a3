"""Per-body and team episode returns at the end of a multi-agent run's training, per session.

    PYTHONPATH=. python bench/team_returns.py data/<run dir> [--last 100] [--greedy 100]

Reads every `bodies.csv` of each session (one per agent and env, or the session's own when
one agent owns the env) and reports, over each body's last `--last` training episodes, its
mean return, and the team return: the sum over the env's bodies of the episodes that ended
on the same frame (in a cooperative MPE env all bodies end together). With `--greedy N`, also
each session's latest checkpoints playing N greedy episodes of env 0 (all agents together).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def session_bodies(session: Path) -> pd.DataFrame:
    """All bodies' finished training episodes of env 0 (body indices are the env's own)."""
    files = sorted(session.glob("a*_e0/bodies.csv")) or [session / "bodies.csv"]
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def greedy_returns(run_dir: Path, session: Path, episodes: int) -> np.ndarray:
    """[episodes, bodies]: every body's return in greedy episodes of the session's latest weights."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.matches import load_weights, play_games
    from slm_lab.env import make_env
    from slm_lab.lib.layout import SessionLayout
    from slm_lab.spec.schema import Spec

    spec = Spec.model_validate(json.loads((run_dir / "spec.json").read_text()))
    env_space = EnvSpace(spec, 4321)
    agents = AgentSpace(spec, env_space, 4321)
    env_space.close()
    for a, agent in enumerate(agents.agents):
        load_weights(agent, SessionLayout(session).agent_model(a, "latest"))
    env = make_env(spec.env[0], 4321)
    try:
        return play_games(env, [(agents.agents[a], agents.assignment[(a, 0)]) for a in range(len(agents.agents))], episodes)
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--last", type=int, default=100, help="episodes per body at the end of training")
    parser.add_argument("--greedy", type=int, default=0, help="also play this many greedy episodes per session")
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
        if args.greedy:
            g = greedy_returns(args.run_dir, session, args.greedy)
            print(f"{session.name} greedy: per body {g.mean():.2f} (bodies {', '.join(f'{v:.2f}' for v in g.mean(0))}); "
                  f"team {g.sum(1).mean():.2f} ± {g.sum(1).std(ddof=1) / np.sqrt(len(g)):.2f} (s.e.) over {len(g)} episodes")
    if teams:
        print(f"team mean over sessions: {sum(teams) / len(teams):.2f}")


if __name__ == "__main__":
    main()
