"""The numpy-batched CartPole with same-step autoreset, and when the lab picks it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pydantic import ValidationError

from slm_lab.env.batched import BATCHED_ENVS, SameStepCartPole
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.schema import BATCHED_ENV_IDS, EnvSpec


def test_the_schema_and_the_env_module_list_the_same_ids():
    assert set(BATCHED_ENVS) == BATCHED_ENV_IDS


def test_dynamics_match_gymnasiums_single_cartpole():
    venv = SameStepCartPole(num_envs=3)
    venv.reset(seed=0)
    single = gym.make("CartPole-v1").unwrapped
    single.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(8):
        start = venv.state.copy()
        actions = rng.integers(0, 2, 3)
        obs, reward, terminated, truncated, _ = venv.step(actions)
        for i in range(3):
            single.state = start[:, i].astype(np.float64)
            o, r, term, trunc, _ = single.step(int(actions[i]))
            if not terminated[i]:
                np.testing.assert_allclose(obs[i], o, rtol=1e-5, atol=1e-6)
            assert (r, term) == (reward[i], terminated[i])


def test_finished_sub_envs_restart_in_the_same_step():
    venv = SameStepCartPole(num_envs=4, max_episode_steps=30)
    obs, _ = venv.reset(seed=0)
    lengths, ends = np.zeros(4, dtype=int), {"terminated": 0, "truncated": 0}
    for _ in range(400):
        obs, reward, terminated, truncated, info = venv.step(np.zeros(4, dtype=np.int64))  # always push left: falls fast
        lengths += 1
        done = terminated | truncated
        assert (reward == 1.0).all()  # every step is a real step: none is spent on a reset
        for i in np.flatnonzero(done):
            final = info["final_obs"][i]
            if terminated[i]:
                assert abs(final[0]) > 2.4 or abs(final[2]) > 12 * 2 * np.pi / 360
                ends["terminated"] += 1
            else:
                assert lengths[i] == 30
                ends["truncated"] += 1
            assert (np.abs(obs[i]) <= 0.05).all()  # the next episode's first observation
        assert not info or list(np.flatnonzero(info["_final_obs"])) == list(np.flatnonzero(done))
        lengths[done] = 0
    assert ends["terminated"] > 10


def test_auto_picks_batched_only_where_it_applies():
    assert isinstance(GymEnv(EnvSpec(name="CartPole-v1", num_envs=4), 0).venv, SameStepCartPole)
    assert not isinstance(GymEnv(EnvSpec(name="CartPole-v1", num_envs=4, vectorization="sync"), 0).venv, SameStepCartPole)
    stacked = GymEnv(EnvSpec(name="CartPole-v1", num_envs=2, frame_stack=2), 0)
    assert not isinstance(stacked.venv, SameStepCartPole) and stacked.spaces.obs_dim == (2, 4)
    assert not isinstance(GymEnv(EnvSpec(name="Acrobot-v1", num_envs=2), 0).venv, SameStepCartPole)


def test_batched_limits_and_returns_through_the_lab_env():
    env = GymEnv(EnvSpec(name="CartPole-v1", num_envs=2, max_t=20, normalize_obs=True), 0)
    env.reset()
    for _ in range(100):
        result = env.step(np.array([0, 1]))
    finished = env.drain_finished()
    assert finished and all(length <= 20 and ret == length for _, ret, length in finished)
    assert np.isfinite(result.state).all()


def test_batched_is_refused_where_it_does_not_exist():
    with pytest.raises(ValidationError, match="vectorization 'batched' exists for CartPole-v1 only, not Acrobot-v1"):
        EnvSpec(name="Acrobot-v1", vectorization="batched")
    with pytest.raises(ValidationError, match="cannot take per-sub-env wrappers"):
        EnvSpec(name="CartPole-v1", vectorization="batched", frame_stack=4)
