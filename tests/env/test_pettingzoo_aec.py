"""PettingZoo AEC adapter on tictactoe / connect_four: whole games, each player's own turns, masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slm_lab.aeb import AgentSpace, EnvSpace, TurnBuffer
from slm_lab.control.trial import Trial
from slm_lab.env import make_env
from slm_lab.env.gymnasium import StepResult
from slm_lab.env.pettingzoo_aec import PettingZooAECEnv
from slm_lab.spec.loader import load_spec, validate
from slm_lab.spec.schema import EnvSpec

TTT = "pettingzoo:pettingzoo.classic.tictactoe_v3"
C4 = "pettingzoo:pettingzoo.classic.connect_four_v3"


def play_random(env: PettingZooAECEnv, games: int, seed: int = 0) -> list[list[tuple[int, float, int]]]:
    rng = np.random.default_rng(seed)
    env.reset()
    ended = []
    while len(ended) < games:
        mover = int(np.flatnonzero(env.active)[0])
        legal = env._observe(env.agent_ids[mover])[-env.spaces.action_dim:]
        action = env.random_actions(rng)
        assert legal[action[mover]] == 1.0  # the random player keeps to legal moves
        result = env.step(action)
        if (finished := env.drain_finished()):
            assert result.terminated.all() or result.truncated.all()
            ended.append(finished)
    return ended


@pytest.mark.parametrize("name,obs,actions", [(TTT, 3 * 3 * 2 + 9, 9), (C4, 6 * 7 * 2 + 7, 7)])
def test_whole_games_end_with_zero_sum_outcomes(name, obs, actions):
    env = make_env(EnvSpec(name=name), seed=0)
    assert isinstance(env, PettingZooAECEnv) and env.num_bodies == 2
    sp = env.spaces
    assert (sp.obs_dim, sp.action_dim, sp.action_mask) == (obs, actions, True)
    state = env.reset()
    assert state.shape == (2, obs) and env.active.tolist() == [True, False]
    assert state[1, -actions:].sum() == 0  # the waiting player has no legal move
    games = play_random(env, 20)
    for finished in games:
        (b0, r0, n0), (b1, r1, n1) = finished
        assert (b0, b1) == (0, 1) and r0 == -r1 and r0 in (-1.0, 0.0, 1.0) and n0 == n1 >= 5
    assert env.clock.episode == 40 and env.clock.frame == sum(g[0][2] for g in games)  # one frame a move
    env.close()


def test_the_adapter_matches_the_raw_game_move_by_move():
    from pettingzoo.classic import tictactoe_v3

    env = make_env(EnvSpec(name=TTT), seed=0)
    raw = tictactoe_v3.env()
    env.reset()
    raw.reset(seed=0)
    moves = (4, 0, 8, 1, 5, 2)  # player_2 completes 0-1-2 with its third move
    for t, move in enumerate(moves):
        raw.step(move)
        result = env.step(np.full(2, move))
        for b, agent in enumerate(raw.possible_agents):
            o = raw.observe(agent)
            np.testing.assert_array_equal(result.next_state[b], np.concatenate([np.ravel(o["observation"]), o["action_mask"]]))
        if t < len(moves) - 1:
            assert not result.terminated.any() and env.active[(t + 1) % 2]
    assert result.terminated.all() and result.reward.tolist() == [-1.0, 1.0]
    assert [r for _, r, _ in env.drain_finished()] == [-1.0, 1.0]


def test_each_player_gets_its_own_turns_with_the_rewards_it_got_meanwhile():
    buf = TurnBuffer(2)
    obs = lambda t: np.full((2, 3), float(t))  # noqa: E731
    step = lambda t, reward, done: StepResult(obs(t), obs(t), np.array(reward, np.float32), np.array([done] * 2), np.zeros(2, bool))  # noqa: E731
    buf.add_step(np.array([True, False]), obs(0), np.array([5, 0]), step(1, [0, 0], False), np.array([False, True]))
    assert not buf.ready([0]) and not buf.ready([1])
    buf.add_step(np.array([False, True]), obs(1), np.array([0, 7]), step(2, [0, 0], False), np.array([True, False]))
    s, a, r, s2, term, _ = buf.pop([0])[0]  # player 0's move at t=0 closes at its next turn, t=2
    assert (s[0], a, r, s2[0], term) == (0.0, 5, 0.0, 2.0, False)
    # player 0 wins with its second move: both open transitions close, the loser's with -1
    buf.add_step(np.array([True, False]), obs(2), np.array([3, 0]), step(3, [1, -1], True), np.array([False, True]))
    (_, a0, r0, _, t0, _), = buf.pop([0])
    (_, a1, r1, s1, t1, _), = buf.pop([1])
    assert (a0, r0, t0, a1, r1, t1, s1[0]) == (3, 1.0, True, 7, -1.0, True, 3.0)


def test_a_learner_and_a_random_player_play_whole_games_in_a_session(tmp_path: Path):
    spec = validate({"name": "ttt",
                     "agent": [{"algorithm": {"name": "PPO", "training_frequency": 16, "minibatch_size": 16, "training_epoch": 1},
                                "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}},
                               {"algorithm": {"name": "Random"}, "memory": {"name": "OnPolicyReplay"}}],
                     "env": [{"name": TTT, "max_frame": 900}],
                     "meta": {"max_session": 1, "log_frequency": 300, "eval_frequency": 450, "eval_episodes": 1}})
    env_space = EnvSpace(spec, 0)
    agents = AgentSpace(spec, env_space, 0)
    state = env_space.reset()
    illegal = 0
    while not env_space.done():
        action = agents.act(state)
        env = env_space.envs[0]
        mover = int(np.flatnonzero(env.active)[0])
        illegal += state[0][mover, 18 + action[0][mover]] == 0
        step = env_space.step(action)
        agents.update(state, action, step)
        state = {e: s.state for e, s in step.items()}
    assert illegal == 0
    # each player is updated once per own move: together they made every move but the open ones
    assert sum(agents.frames) > 800 and agents.agents[0].opt_step > 0
    env_space.close()

    Trial(spec, tmp_path, show_progress=False).run()
    bodies = pd.read_csv(tmp_path / "session_0" / "a0_e0" / "bodies.csv")
    assert set(bodies["return"]) <= {-1.0, 0.0, 1.0} and len(bodies) > 50


def test_one_agent_can_play_both_sides():
    spec = validate({"name": "selfplay", "agent": [{"algorithm": {"name": "A2C", "training_frequency": 8},
                                                    "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}}],
                     "env": [{"name": C4, "max_frame": 400}]})
    env_space = EnvSpace(spec, 0)
    agents = AgentSpace(spec, env_space, 0)
    assert agents.agents[0].spaces.num_bodies == 2
    state = env_space.reset()
    while not env_space.done():
        action = agents.act(state)
        step = env_space.step(action)
        agents.update(state, action, step)
        state = {e: s.state for e, s in step.items()}
    assert agents.agents[0].opt_step > 0
    env_space.close()


def test_shipped_tictactoe_specs_validate():
    for name in ("dqn_tictactoe_vs_random", "ppo_tictactoe_vs_random"):
        spec = load_spec("aeb/tictactoe.json", name)
        assert spec.agent[1].algorithm.name == "Random"
