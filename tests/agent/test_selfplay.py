"""Self-play: snapshots of a learner are taken at the spec's cadence and drawn by the spec's rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.control.matches import fixed_opponent_matches
from slm_lab.control.trial import Trial
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import load_spec, validate

TTT = "pettingzoo:pettingzoo.classic.tictactoe_v3"


def spec(pool: str, frames: int = 1200, of: int = 0, **meta):
    return validate({"name": "selfplay", "agent": [
        {"algorithm": {"name": "PPO", "training_frequency": 32, "minibatch_size": 32, "training_epoch": 1},
         "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}},
        {"algorithm": {"name": "Snapshot", "of": of, "pool": pool, "last_k": 3, "snapshot_frequency": 150},
         "memory": {"name": "OnPolicyReplay"}}],
        "env": [{"name": TTT, "max_frame": frames}],
        "meta": {"max_session": 1, "log_frequency": 400, "eval_frequency": 600, "eval_episodes": 1, **meta}})


def play(s) -> tuple[AgentSpace, list[int]]:
    """Run the AEB loop; the pool index drawn for each game."""
    env_space = EnvSpace(s, 0)
    agents = AgentSpace(s, env_space, 0)
    player = agents.agents[1]
    drawn = []
    original = player.draw
    player.draw = lambda: (original(), drawn.append(player.current))  # type: ignore[method-assign]
    state = env_space.reset()
    while not env_space.done():
        action = agents.act(state)
        step = env_space.step(action)
        agents.update(state, action, step)
        state = {e: r.state for e, r in step.items()}
    env_space.close()
    return agents, drawn


def test_snapshots_follow_the_cadence_and_the_pool_keeps_the_last_k():
    agents, drawn = play(spec("latest"))
    learner, player = agents.agents
    frames = [p["frame"] for p in player.pool]
    assert len(frames) == 3 and all(b - a >= 150 for a, b in zip(frames, frames[1:]))
    assert learner.frame - frames[-1] < 150 + 10  # the newest is at most one cadence (plus a game's turn) old
    assert sum(p["games"] for p in player.pool) <= len(drawn)
    # "latest" draws the newest snapshot each game: the index drawn is always the pool's last
    assert set(drawn[-20:]) == {2}


def test_uniform_draws_cover_the_pool():
    _, drawn = play(spec("uniform", frames=1500))
    late = np.array(drawn[len(drawn) // 2:])  # once the pool is full
    counts = np.bincount(late, minlength=3)
    assert (counts > len(late) / 3 * 0.5).all(), counts


def test_prioritized_draws_favour_the_snapshots_the_learner_beats_least():
    agents, _ = play(spec("prioritized", frames=600))
    assert len(agents.agents[1].pool) == 3
    player = agents.agents[1]
    for p, (games, wins) in zip(player.pool, [(20, 19), (20, 10), (20, 1)]):
        p["games"], p["learner_wins"] = games, wins
    w = player.weights()
    assert w[0] < w[1] < w[2] and w.sum() == pytest.approx(1.0)


def test_a_snapshot_of_itself_or_of_nothing_is_a_spec_error():
    s = spec("uniform", of=1)
    env_space = EnvSpace(s, 0)
    with pytest.raises(SpecError, match=r"agent\[1\].algorithm.of: 1 is not another learning agent"):
        AgentSpace(s, env_space, 0)
    env_space.close()


def test_self_play_session_saves_the_pool_and_evaluates_against_fixed_opponents(tmp_path: Path):
    Trial(spec("uniform", frames=900), tmp_path, show_progress=False).run()
    rates = fixed_opponent_matches(spec("uniform"), tmp_path / "session_0", games=10)
    assert {k.split(" (")[0] for k in rates} == {"agent0 vs snapshot_first", "agent0 vs snapshot_last", "agent0 vs random"}
    for r in rates.values():
        assert r["games"] == 10 and r["win"] + r["draw"] + r["loss"] == pytest.approx(1.0)
    # acting as in training (bench/marl_matches.py --sample) plays the same matches
    sampled = fixed_opponent_matches(spec("uniform"), tmp_path / "session_0", games=10, sample=True)
    assert sampled.keys() == rates.keys() and all(r["games"] == 10 for r in sampled.values())


def test_shipped_self_play_spec_validates():
    s = load_spec("aeb/tictactoe.json", "dqn_tictactoe_selfplay")
    assert s.agent[1].algorithm.name == "Snapshot" and s.agent[1].algorithm.of == 0
