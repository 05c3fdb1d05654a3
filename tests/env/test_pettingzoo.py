"""PettingZoo adapter: the parallel API on MPE (mpe2), compared step by step with the raw env."""

from __future__ import annotations

import numpy as np
import pytest

from slm_lab.env import make_env
from slm_lab.env.pettingzoo import PettingZooEnv
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

SPREAD = "pettingzoo:mpe2.simple_spread_v3"


def spread(max_cycles: int = 5, continuous: bool = False, **extra) -> PettingZooEnv:
    env = make_env(EnvSpec(name=SPREAD, kwargs={"continuous_actions": continuous, "max_cycles": max_cycles}, **extra), seed=3)
    assert isinstance(env, PettingZooEnv)
    return env


def test_shapes_and_spaces():
    env = spread()
    assert env.agent_ids == ["agent_0", "agent_1", "agent_2"] and env.num_bodies == 3
    s = env.spaces
    assert (s.obs_dim, s.action_dim, s.is_discrete, s.num_bodies) == (18, 5, True, 3)
    state = env.reset()
    assert state.shape == (3, 18) and state.dtype == np.float32
    result = env.step(np.array([0, 1, 2]))
    assert result.state.shape == (3, 18) and result.next_state.shape == (3, 18)
    assert result.reward.shape == (3,) and result.reward.dtype == np.float32
    assert result.terminated.shape == (3,) and result.truncated.shape == (3,)
    assert env.clock.frame == 3
    env.close()


def test_matches_the_raw_env_and_autoresets_on_truncation():
    from mpe2 import simple_spread_v3

    env = spread(max_cycles=5)
    raw = simple_spread_v3.parallel_env(continuous_actions=False, max_cycles=5)
    state = env.reset()
    raw_obs, _ = raw.reset(seed=3)
    ids = raw.possible_agents
    np.testing.assert_array_equal(state, np.stack([raw_obs[a] for a in ids]))
    rng = np.random.default_rng(0)
    returns = np.zeros(3)
    for t in range(1, 8):
        action = rng.integers(0, 5, size=3)
        result = env.step(action)
        raw_obs, raw_rew, _, raw_trunc, _ = raw.step({a: int(action[i]) for i, a in enumerate(ids)})
        np.testing.assert_array_equal(result.next_state, np.stack([raw_obs[a] for a in ids]))
        np.testing.assert_allclose(result.reward, [raw_rew[a] for a in ids], rtol=1e-6)
        returns += result.reward
        assert not result.terminated.any()
        if t == 5:  # MPE truncates every agent at max_cycles
            assert result.truncated.all() and all(raw_trunc.values())
            raw_obs, _ = raw.reset()  # unseeded: the generator continues, as in the adapter
            np.testing.assert_array_equal(result.state, np.stack([raw_obs[a] for a in ids]))
            assert not np.array_equal(result.state, result.next_state)
            finished = env.drain_finished()
            assert [(b, n) for b, _, n in finished] == [(0, 5), (1, 5), (2, 5)]
            np.testing.assert_allclose([r for _, r, _ in finished], returns, rtol=1e-5)
            assert env.clock.episode == 3
        else:
            assert not result.truncated.any()
            np.testing.assert_array_equal(result.state, result.next_state)
    assert env.clock.frame == 7 * 3 and env.drain_finished() == []
    env.close()


def test_same_seed_same_episode():
    a, b = spread(), spread()
    np.testing.assert_array_equal(a.reset(), b.reset())
    for act in ([1, 2, 3], [4, 0, 1]):
        np.testing.assert_array_equal(a.step(np.array(act)).state, b.step(np.array(act)).state)


def test_max_t_truncates_before_max_cycles():
    env = spread(max_cycles=25, max_t=4)
    env.reset()
    for t in range(1, 5):
        result = env.step(np.zeros(3, dtype=np.int64))
    assert result.truncated.all() and t == 4
    assert [n for _, _, n in env.drain_finished()] == [4, 4, 4]


def test_continuous_actions_are_clipped_to_the_box():
    env = spread(continuous=True)
    s = env.spaces
    assert not s.is_discrete and s.action_dim == 5
    np.testing.assert_array_equal(s.action_low, np.zeros(5))
    np.testing.assert_array_equal(s.action_high, np.ones(5))
    env.reset()
    sent = env._action_dict(np.full((3, 5), 7.0))
    assert all(np.array_equal(v, np.ones(5, dtype=np.float32)) for v in sent.values())
    assert env.step(np.random.default_rng(0).uniform(-1, 2, size=(3, 5))).reward.shape == (3,)


def test_different_agents_are_grouped_and_padded():
    env = make_env(EnvSpec(name="pettingzoo:mpe2.simple_tag_v3", kwargs={"max_cycles": 10}), seed=0)
    assert env.agent_ids == ["adversary_0", "adversary_1", "adversary_2", "agent_0"]
    with pytest.raises(SpecError, match=r"agents adversary_0 \(obs 16, 5 discrete actions\) and agent_0 \(obs 14"):
        env.spaces
    assert env.groups() == [[0, 1, 2], [3]]
    assert env.body_spaces([0, 1, 2]).num_bodies == 3 and env.body_spaces([3]).obs_dim == 14
    state = env.reset()
    assert state.shape == (4, 16) and (state[3, 14:] == 0).all()  # the prey's obs padded with zeros
    assert env.step(np.zeros(4, dtype=np.int64)).reward.shape == (4,)


def test_bad_names_and_kwargs():
    with pytest.raises(SpecError, match="cannot import"):
        make_env(EnvSpec(name="pettingzoo:mpe2.no_such_env_v0"), 0)
    with pytest.raises(SpecError, match="has neither parallel_env"):
        make_env(EnvSpec(name="pettingzoo:numpy"), 0)
    with pytest.raises(SpecError, match="bad kwargs"):
        make_env(EnvSpec(name=SPREAD, kwargs={"no_such_kwarg": 1}), 0)


def test_check_accepts_pettingzoo_names():
    from slm_lab.spec.loader import check_env_names
    from slm_lab.spec.schema import Spec

    def spec(env: dict) -> Spec:
        return Spec.model_validate({"agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}], "env": [env]})

    check_env_names(spec({"name": SPREAD, "kwargs": {"max_cycles": 25}}))
    with pytest.raises(SpecError, match="needs the package 'no_such_pkg'"):
        check_env_names(spec({"name": "pettingzoo:no_such_pkg.env_v0"}))
    with pytest.raises(SpecError, match="not pettingzoo:<module path>"):
        check_env_names(spec({"name": "pettingzoo:mpe2/simple_spread"}))


FAKE_ENV = '''
import numpy as np
from gymnasium import spaces


class Env:
    """Two agents; `b` terminates at step `b_end`, `a` at step 3."""

    possible_agents = ["a", "b"]

    def __init__(self, b_end=3):
        self.b_end = b_end

    def observation_space(self, agent):
        return spaces.Box(-10, 10, (2,), np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.t = 0
        self.agents = list(self.possible_agents)
        return {a: np.zeros(2, np.float32) for a in self.agents}, {}

    def step(self, actions):
        self.t += 1
        obs = {a: np.full(2, self.t, np.float32) for a in self.agents}
        rew = {a: float(actions[a]) for a in self.agents}
        term = {"a": self.t >= 3, "b": self.t >= self.b_end}
        term = {a: term[a] for a in self.agents}
        self.agents = [a for a in self.agents if not term[a]]
        return obs, rew, term, {a: False for a in term}, {a: {} for a in term}

    def close(self):
        pass


def parallel_env(**kwargs):
    return Env(**kwargs)
'''


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    (tmp_path / "fake_pz_env.py").write_text(FAKE_ENV)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "pettingzoo:fake_pz_env"


def test_termination_of_all_agents_autoresets(fake_module):
    env = make_env(EnvSpec(name=fake_module), 0)
    env.reset()
    for t in range(1, 4):
        result = env.step(np.array([1, 0]))
    assert result.terminated.all() and not result.truncated.any()
    np.testing.assert_array_equal(result.next_state, np.full((2, 2), 3.0))  # the true final obs
    np.testing.assert_array_equal(result.state, np.zeros((2, 2)))  # the next episode's first
    assert env.drain_finished() == [(0, 3.0, 3), (1, 0.0, 3)]


def test_agents_ending_apart_is_a_clear_error(fake_module):
    env = make_env(EnvSpec(name=fake_module, kwargs={"b_end": 2}), 0)
    env.reset()
    env.step(np.array([0, 0]))
    with pytest.raises(RuntimeError, match=r"agents \['b'\] ended before the others"):
        env.step(np.array([0, 0]))
