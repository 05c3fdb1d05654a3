"""Session: the loop, its folder, seeding determinism; the env adapter's episode ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spec_helpers import tiny_spec
from slm_lab.control.session import Session, load_checkpoint
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import EnvSpec


def dqn_spec(**meta) -> object:
    raw = tiny_spec(
        {"name": "DQN", "training_start_step": 200, "training_frequency": 4,
         "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "end_step": 1000}},
        {"name": "Replay", "batch_size": 32, "max_size": 5000},
        meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 1000, "eval_episodes": 2, **meta},
    )
    raw["name"] = "t"
    return validate(raw)


def run(spec, path: Path, session: int = 0) -> pd.DataFrame:
    Session(spec, path, trial=0, session=session).run()
    return pd.read_csv(path / "train.csv")


def test_session_writes_its_folder(tmp_path: Path):
    run(dqn_spec(), tmp_path / "s0")
    d = tmp_path / "s0"
    for name in ("train.csv", "eval.csv", "metrics.json", "model/latest.pt", "model/best.pt"):
        assert (d / name).is_file(), name
    train, evals = pd.read_csv(d / "train.csv"), pd.read_csv(d / "eval.csv")
    assert list(train.columns) == ["frame", "opt_step", "episode", "wall_t", "fps", "return", "return_ma", "loss", "entropy", "explore_var", "lr", "q_mean"]
    assert train["frame"].tolist() == [500, 1000, 1500, 2000]
    assert evals["frame"].tolist() == [1000, 2000]
    assert train["opt_step"].iloc[-1] > 0 and train["episode"].is_monotonic_increasing
    state = load_checkpoint(d / "model" / "latest.pt")
    assert set(state["nets"]) == {"net", "target_net"}


def test_wall_time_counts_the_training_loop_not_the_set_up(tmp_path: Path, monkeypatch):
    import time

    import slm_lab.control.session as session_mod

    build = session_mod.Session._build

    def slow_build(self):  # a set-up that takes 2 s, like a first torch._dynamo import on a loaded machine
        build(self)
        time.sleep(2.0)

    monkeypatch.setattr(session_mod.Session, "_build", slow_build)
    train = run(dqn_spec(), tmp_path / "s0")
    first = train.iloc[0]
    assert first["wall_t"] < 2.0, "wall_t includes the set-up"
    assert first["fps"] > first["frame"] / 2.0, "the first row's fps includes the set-up"


def test_same_seed_same_numbers_other_session_other_numbers(tmp_path: Path):
    cols = ["frame", "opt_step", "episode", "return", "return_ma", "loss", "explore_var"]
    a = run(dqn_spec(), tmp_path / "a")[cols]
    b = run(dqn_spec(), tmp_path / "b")[cols]
    pd.testing.assert_frame_equal(a, b)
    c = run(dqn_spec(), tmp_path / "c", session=1)[cols]
    assert not a["loss"].equals(c["loss"])


def test_truncation_keeps_the_final_observation_apart_from_the_reset_one():
    env = GymEnv(EnvSpec(name="CartPole-v1", num_envs=2, max_t=5), seed=0)
    env.reset()
    for t in range(5):
        result = env.step(np.zeros(2, dtype=np.int64))
    assert result.truncated.all() and not result.terminated.any()
    # the state to act on is the new episode's first; s' is the old episode's last
    assert not np.allclose(result.state, result.next_state)
    assert np.all(np.abs(result.state) <= 0.05)  # CartPole resets within +-0.05
    assert [ret for _, ret, _ in env.drain_finished()] == [5.0, 5.0]
    assert env.clock.frame == 10 and env.clock.episode == 2
    env.close()


def test_entry_point_envs_are_accepted():
    env = GymEnv(EnvSpec(name="gymnasium.envs.classic_control.cartpole:CartPoleEnv", num_envs=1), seed=0)
    assert env.spaces.obs_dim == 4 and env.spaces.is_discrete
    env.close()


@pytest.mark.parametrize("episodes", [3])
def test_eval_runs_one_greedy_episode_per_eval_body(tmp_path: Path, episodes: int):
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.session import evaluate

    spec = dqn_spec(eval_episodes=episodes)
    agent = AgentSpace(spec, EnvSpace(spec, 0), 0).agents[0]
    env = GymEnv(spec.env[0], 1, num_envs=episodes)
    ret = evaluate(agent, env)
    # an untrained greedy net does not balance the pole: CartPole lasts at least 8 steps, and a
    # near-constant action ends it within a few dozen
    assert 8 <= ret < 60
    # the same episodes played here, body by body, each counted up to its first end only
    replay = GymEnv(spec.env[0], 1, num_envs=episodes)
    state, returns, running = replay.reset(), np.zeros(episodes), np.ones(episodes, bool)
    while running.any():
        step = replay.step(agent.act_greedy(state))
        returns += np.where(running, step.reward, 0.0)
        running &= ~(step.terminated | step.truncated)
        state = step.state
    assert ret == pytest.approx(returns.mean())


def test_torch_threads_sets_the_session_thread_count(tmp_path: Path):
    import torch

    before = torch.get_num_threads()
    try:
        run(dqn_spec(torch_threads=2), tmp_path / "two")
        assert torch.get_num_threads() == 2
        run(dqn_spec(), tmp_path / "one")
        assert torch.get_num_threads() == 1  # the default: one thread per session
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1000, 1.5])
def test_torch_threads_must_be_a_sane_positive_int(bad):
    with pytest.raises(Exception, match="meta.torch_threads"):
        dqn_spec(torch_threads=bad)
