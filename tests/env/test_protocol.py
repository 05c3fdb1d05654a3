"""Every env adapter offers the declared EnvAdapter interface, and shares one episode tracker."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from slm_lab.env.gymnasium import GymEnv
from slm_lab.env.pettingzoo import PettingZooEnv
from slm_lab.env.pettingzoo_aec import PettingZooAECEnv
from slm_lab.env.protocol import EnvAdapter, EpisodeTracker, StepResult
from slm_lab.env.unity import UnityEnv
from slm_lab.spec.schema import EnvSpec

METHODS = [name for name, _ in inspect.getmembers(EnvAdapter, inspect.isfunction) if not name.startswith("_")]


@pytest.mark.parametrize("adapter", [GymEnv, UnityEnv, PettingZooEnv, PettingZooAECEnv])
def test_each_adapter_class_defines_every_method_of_the_protocol(adapter):
    assert set(METHODS) == {"reset", "step", "drain_finished", "state_dict", "load_state_dict", "close"}
    for name in METHODS:
        assert callable(getattr(adapter, name, None)), f"{adapter.__name__}.{name}"
        theirs = list(inspect.signature(getattr(adapter, name)).parameters)
        ours = list(inspect.signature(getattr(EnvAdapter, name)).parameters)
        assert theirs[: len(ours)] == ours, (adapter.__name__, name, theirs)


@pytest.mark.parametrize("spec", [EnvSpec(name="CartPole-v1", num_envs=3, max_t=20),
                                  EnvSpec(name="pettingzoo:mpe2.simple_spread_v3", max_t=10)], ids=["gym", "pettingzoo"])
def test_live_adapters_satisfy_the_protocol_and_track_episodes(spec):
    env = GymEnv(spec, 0) if spec.kind == "gymnasium" else PettingZooEnv(spec, 0)
    try:
        assert isinstance(env, EnvAdapter) and isinstance(env.episodes, EpisodeTracker)
        state = env.reset()
        assert state.shape[0] == env.num_bodies
        rng = np.random.default_rng(0)
        for _ in range(25):
            sp = env.spaces
            action = (rng.integers(0, sp.action_dim, env.num_bodies) if sp.is_discrete else
                      rng.uniform(-1, 1, (env.num_bodies, sp.action_dim)).astype(np.float32))
            result = env.step(action)
            assert isinstance(result, StepResult)
        finished = env.drain_finished()
        assert finished and all(0 < length <= 20 for _, _, length in finished)
        assert env.drain_finished() == []  # drained once
    finally:
        env.close()


def test_the_tracker_counts_returns_and_lengths_per_body_and_survives_a_round_trip():
    t = EpisodeTracker(3)
    t.add(np.array([1.0, 2.0, 3.0]))
    t.add(np.array([1.0, 2.0, 3.0]))
    assert t.end(np.array([False, True, False])) == 1
    t.add(np.array([0.5, 0.5, 0.5]))
    assert t.finished == [(1, 4.0, 2)]
    twin = EpisodeTracker(3)
    twin.load_state_dict(t.state_dict())
    assert twin.finished == t.finished and np.array_equal(twin.returns, t.returns) and np.array_equal(twin.lengths, t.lengths)
    cold = EpisodeTracker(3)
    cold.load_state_dict(t.state_dict(), running=False)  # the env restarts: only finished episodes carry over
    assert cold.finished == t.finished and not cold.returns.any()
    assert t.drain() == [(1, 4.0, 2)] and t.finished == []
