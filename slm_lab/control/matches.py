"""Matches between the agents of a competitive multi-agent env: win / draw / loss rates.

A game's outcome for a player is the sign of its return (PettingZoo's classic games give +1
to the winner, -1 to the loser, 0 each on a draw). Play is greedy, as in evaluation, or with
`sample=True` as in training (a DQN's final epsilon, a policy's samples): two greedy players
of a deterministic game play the same game every time. A Random agent stays random.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.control.recorder import evaluate_env


def load_weights(agent: Any, path: Path) -> None:
    """An agent's nets from a checkpoint, and its frame: schedules (epsilon) continue where training stopped."""
    from slm_lab.control.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    agent.load_state_dict(state, weights_only=True)
    agent.frame = int(state.get("counters", {}).get("frame", 0))


def outcome_rates(returns: np.ndarray) -> dict[str, float]:
    """Win / draw / loss fractions of a player's game returns, and their mean (what counts in a
    game that is not zero-sum, such as Unity Tennis: a reward for each ball played over the net,
    a penalty for a ball lost)."""
    r = np.asarray(returns, dtype=np.float64).ravel()
    n = max(len(r), 1)
    return {"win": float((r > 0).sum() / n), "draw": float((r == 0).sum() / n), "loss": float((r < 0).sum() / n),
            "mean_return": float(r.mean()) if len(r) else float("nan"), "games": len(r)}


class Sampling:
    """An agent seen by evaluate_env as acting greedily while it acts as in training.

    Only for agents that act without a memory: a recurrent agent's training-time hidden state
    moves on with its own updates, which match play does not make, so it is refused."""

    def __init__(self, agent: Any) -> None:
        from slm_lab.agent.algorithm.base import Algorithm

        if type(agent).reset_greedy_state is not Algorithm.reset_greedy_state:
            raise ValueError(f"{type(agent).__name__} remembers across steps: sampled play cannot "
                             "replay its training-time memory; play it greedily (without --sample)")
        self.agent, self.spaces = agent, agent.spaces

    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.agent.act(state)

    def reset_greedy_state(self, bodies: np.ndarray | None = None) -> None:
        """Nothing to forget: the agent acts from the state alone (checked above)."""


def play_games(env: Any, actors: list[tuple[Any, list[int]]], games: int, sample: bool = False) -> np.ndarray:
    """[games, bodies]: each body's return in `games` whole games (every body plays each game)."""
    if sample:
        actors = [(Sampling(agent), bodies) for agent, bodies in actors]
    return np.stack([evaluate_env(env, actors) for _ in range(games)])


def session_matches(spec: Any, session_dir: Path, games: int = 200, seed: int = 12345,
                    sample: bool = False) -> dict[int, dict[str, float]]:
    """Load each learning agent's latest checkpoint of a session, play `games` games of env 0
    between the spec's agents, and give each agent's outcome rates over its bodies."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.checkpoint import load_checkpoint
    from slm_lab.lib.layout import SessionLayout
    from slm_lab.env import make_env

    env_space = EnvSpace(spec, seed)
    agent_space = AgentSpace(spec, env_space, seed)
    env_space.close()
    for a, agent in enumerate(agent_space.agents):
        if agent.nets or hasattr(agent, "pool"):  # a Random player has nothing to load
            if hasattr(agent, "pool"):
                agent.load_state_dict(load_checkpoint(SessionLayout(Path(session_dir)).agent_model(a, "latest")))
            else:
                load_weights(agent, SessionLayout(Path(session_dir)).agent_model(a, "latest"))
    owners = [(a, agent_space.assignment[(a, 0)]) for a in range(len(agent_space.agents)) if (a, 0) in agent_space.assignment]
    env = make_env(spec.env[0], seed)
    try:
        returns = play_games(env, [(agent_space.agents[a], bodies) for a, bodies in owners], games, sample)
    finally:
        env.close()
    return {a: outcome_rates(returns[:, bodies]) for a, bodies in owners}


def fixed_opponent_matches(spec: Any, session_dir: Path, games: int = 200, seed: int = 54321,
                           sample: bool = False) -> dict[str, dict[str, float]]:
    """Self-play evaluation: for each Snapshot agent of the spec, its learner (latest weights)
    plays `games` greedy games against fixed opponents: a random player, the pool's earliest
    snapshot and its latest one. The learner's outcome rates per opponent."""
    from slm_lab.agent import make_agent
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.checkpoint import load_checkpoint
    from slm_lab.lib.layout import SessionLayout
    from slm_lab.env import make_env
    from slm_lab.spec.schema import AgentSpec

    env_space = EnvSpace(spec, seed)
    agent_space = AgentSpace(spec, env_space, seed)
    env_space.close()
    out: dict[str, dict[str, float]] = {}
    for a, player in enumerate(agent_space.agents):
        if not hasattr(player, "pool"):
            continue
        learner_index = player.algo_spec.of
        learner = agent_space.agents[learner_index]
        load_weights(learner, SessionLayout(Path(session_dir)).agent_model(learner_index, "latest"))
        player.load_state_dict(load_checkpoint(SessionLayout(Path(session_dir)).agent_model(a, "latest")))
        mine, theirs = agent_space.assignment[(learner_index, 0)], agent_space.assignment[(a, 0)]
        rand = make_agent(AgentSpec.model_validate({"algorithm": {"name": "Random"}, "memory": {"name": "OnPolicyReplay"}}),
                          player.spaces, 1, seed)
        env = make_env(spec.env[0], seed)
        try:
            for label, index in (("snapshot_first", 0), ("snapshot_last", -1)):
                player.use(index)
                frame = player.pool[player.current]["frame"]
                out[f"agent{learner_index} vs {label} (frame {frame})"] = outcome_rates(
                    play_games(env, [(learner, mine), (player, theirs)], games, sample)[:, mine])
            out[f"agent{learner_index} vs random"] = outcome_rates(
                play_games(env, [(learner, mine), (rand, theirs)], games, sample)[:, mine])
        finally:
            env.close()
    return out
