"""Matches between the agents of a competitive multi-agent env: win / draw / loss rates.

A game's outcome for a player is the sign of its return (PettingZoo's classic games give +1
to the winner, -1 to the loser, 0 each on a draw). Play is greedy, as in evaluation; a
Random agent stays random.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.control.recorder import evaluate_env


def outcome_rates(returns: np.ndarray) -> dict[str, float]:
    """Win / draw / loss fractions of a player's game returns."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    n = max(len(r), 1)
    return {"win": float((r > 0).sum() / n), "draw": float((r == 0).sum() / n), "loss": float((r < 0).sum() / n), "games": len(r)}


def play_games(env: Any, actors: list[tuple[Any, list[int]]], games: int) -> np.ndarray:
    """[games, bodies]: each body's return in `games` whole games (every body plays each game)."""
    return np.stack([evaluate_env(env, actors) for _ in range(games)])


def session_matches(spec: Any, session_dir: Path, games: int = 200, seed: int = 12345) -> dict[int, dict[str, float]]:
    """Load each learning agent's latest checkpoint of a session, play `games` games of env 0
    between the spec's agents, and give each agent's outcome rates over its bodies."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.session import agent_checkpoint_path, load_checkpoint
    from slm_lab.env import make_env

    env_space = EnvSpace(spec, seed)
    agent_space = AgentSpace(spec, env_space, seed)
    env_space.close()
    for a, agent in enumerate(agent_space.agents):
        if agent.nets:  # a Random player has nothing to load
            agent.load_state_dict(load_checkpoint(agent_checkpoint_path(Path(session_dir) / "model", a, "latest")), weights_only=True)
    owners = [(a, agent_space.assignment[(a, 0)]) for a in range(len(agent_space.agents)) if (a, 0) in agent_space.assignment]
    env = make_env(spec.env[0], seed)
    try:
        returns = play_games(env, [(agent_space.agents[a], bodies) for a, bodies in owners], games)
    finally:
        env.close()
    return {a: outcome_rates(returns[:, bodies]) for a, bodies in owners}
