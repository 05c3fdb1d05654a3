"""Every owner's state_dict / load_state_dict round trip: the clock, the envs (batched and
sync CartPole, Pendulum, with their normalizers), a pair recorder, the agent space, an
on-policy rollout and a whole session; each restored object goes on exactly as the original."""

from __future__ import annotations

import io as _io
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spec_helpers import tiny_spec
from slm_lab.agent.memory.onpolicy import OnPolicyBatchReplay
from slm_lab.control.recorder import PairRecorder
from slm_lab.control.session import Session
from slm_lab.env.clock import Clock
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import EnvSpec


def weights_only_copy(state: dict) -> dict:
    """Through torch.save / torch.load(weights_only=True), as a checkpoint goes."""
    buf = _io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_clock_round_trip():
    clock = Clock(1000)
    clock.tick(40, 3)
    clock.start_wall -= 5.0  # five seconds into the run
    saved = weights_only_copy(clock.state_dict())
    other = Clock(1000)
    other.load_state_dict(saved)
    assert (other.frame, other.episode) == (40, 3) and 5.0 <= saved["wall_t"] <= other.wall_t < 6.0


ENVS = {
    "batched cartpole": {"name": "CartPole-v1", "num_envs": 3, "max_frame": 10_000},
    "sync cartpole, obs norm": {"name": "CartPole-v1", "num_envs": 2, "max_frame": 10_000, "vectorization": "sync",
                                "normalize_obs": True},
    "pendulum, reward + obs norm": {"name": "Pendulum-v1", "num_envs": 2, "max_frame": 10_000, "normalize_reward": True,
                                    "normalize_obs": True},
    "a user's classic-control variant": {"name": "slm_lab.env.variants:CartPoleVariant", "kwargs": {"length": 1.0},
                                         "max_t": 200, "num_envs": 2, "max_frame": 10_000},
    # the emulator's state, sticky actions' RNG, AtariPreprocessing's frames and lives, the frame stack
    "atari pong, episodic life": {"name": "ALE/Pong-v5", "num_envs": 2, "max_frame": 10_000, "max_t": 400,
                                  "episodic_life": True, "kwargs": {"repeat_action_probability": 0.0}},
}


def _actions(env: GymEnv, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    if env.spaces.is_discrete:
        return [rng.integers(0, env.spaces.action_dim, env.num_bodies) for _ in range(n)]
    return [rng.uniform(-2, 2, (env.num_bodies, env.spaces.action_dim)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("case", ENVS)
def test_an_env_restored_from_its_state_steps_exactly_as_the_original(case: str):
    spec = EnvSpec.model_validate(ENVS[case])
    env, twin = GymEnv(spec, 5), GymEnv(spec, 99)  # the twin starts elsewhere: only the state makes it equal
    rng = np.random.default_rng(0)
    env.reset()
    for action in _actions(env, rng, 150):  # past episode ends: finished episodes and autoresets
        env.step(action)
    state = weights_only_copy(env.state_dict())
    assert "sim" in state and state["frame"] == 150 * env.num_bodies
    assert twin.load_state_dict(state) is True
    assert twin.episodes.finished == env.episodes.finished and np.array_equal(twin.episodes.returns, env.episodes.returns)
    for action in _actions(env, rng, 300):
        a, b = env.step(action), twin.step(action)
        for field in ("state", "next_state", "reward", "terminated", "truncated"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert twin.drain_finished() == env.drain_finished() and twin.clock.episode == env.clock.episode
    assert weights_only_copy(twin.norm_state_dict()).keys() == env.norm_state_dict().keys()
    env.close(), twin.close()


def test_an_atari_game_with_sticky_actions_cannot_be_captured():
    # the action a sticky step repeats is not part of the emulator's saved state
    env = GymEnv(EnvSpec.model_validate({"name": "ALE/Pong-v5", "num_envs": 1, "max_frame": 1000}), 5)
    try:
        env.reset()
        env.step(np.zeros(1, dtype=np.int64))
        assert "sim" not in env.state_dict()
    finally:
        env.close()


def test_an_env_that_cannot_be_captured_says_so_and_moves_its_seed():
    spec = EnvSpec.model_validate({"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000, "vectorization": "async"})
    env = GymEnv(spec, 5)
    try:
        env.reset()
        env.step(np.zeros(2, dtype=np.int64))
        state = env.state_dict()
        assert "sim" not in state
        assert env.load_state_dict(state) is False and env.seed != 5  # a reset will not replay the first episodes
    finally:
        env.close()


def test_normalizer_statistics_round_trip_with_running_returns():
    spec = EnvSpec.model_validate({"name": "Pendulum-v1", "num_envs": 2, "max_frame": 1000, "normalize_reward": True,
                                   "normalize_obs": True})
    env, other = GymEnv(spec, 1), GymEnv(spec, 2)
    env.reset()
    for _ in range(30):
        env.step(np.ones((2, 1), np.float32))
    norm = weights_only_copy(env.norm_state_dict())
    other.load_norm_state_dict(norm)
    again = other.norm_state_dict()
    for key in ("obs", "reward"):
        for stat in ("mean", "var"):
            assert torch.equal(again[key][stat], norm[key][stat]), (key, stat)
    assert torch.equal(again["reward"]["accumulated"], norm["reward"]["accumulated"])
    assert norm["reward"]["accumulated"].abs().sum() > 0
    env.close(), other.close()


def test_an_on_policy_rollout_round_trips_half_full():
    mem = OnPolicyBatchReplay(None, 4)
    for t in range(3):
        s = np.full((2, 3), t, np.float32)
        mem.add(s, np.array([t, t]), np.ones(2, np.float32), s + 1, np.zeros(2, bool), np.zeros(2, bool))
    other = OnPolicyBatchReplay(None, 4)
    other.load_state_dict(mem.state_dict())
    for m in (mem, other):
        m.add(np.zeros((2, 3), np.float32), np.array([9, 9]), np.ones(2, np.float32), np.zeros((2, 3), np.float32),
              np.ones(2, bool), np.zeros(2, bool))
    a, b = mem.sample(), other.sample()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="holds 5"):
        OnPolicyBatchReplay(None, 5).load_state_dict(mem.state_dict() | {"states": np.zeros((4, 2, 3))})


def _session(tmp_path: Path) -> Session:
    raw = tiny_spec({"name": "DQN", "training_start_step": 20, "training_frequency": 2}, {"name": "Replay", "max_size": 200},
                    net={"hid_layers": [8]}, env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
                    meta={"max_session": 1, "log_frequency": 100, "eval_frequency": 200, "eval_episodes": 2})
    raw["name"] = "state_dicts"
    return Session(validate(raw), tmp_path)


def test_a_pair_recorder_round_trips_and_cuts_its_tables_back(tmp_path: Path):
    s = _session(tmp_path / "s")
    s.run()
    rec = s.recorders[0]
    state = weights_only_copy(rec.state_dict())
    assert state["episodes"] == rec.episodes > 0 and len(state["returns_window"]) > 0
    rec.env.clock.frame = 200  # as if the checkpoint were at frame 200: later rows are the lost stretch
    other = PairRecorder(0, 0, [0, 1], rec.env, rec.agent, rec.dir, s.meta.ma_window)
    other.load_state_dict(state)
    assert [r["frame"] for r in other.train_rows] == [100, 200] and [r["frame"] for r in other.eval_rows] == [200]
    assert list(other.returns_window) == list(rec.returns_window) and other.episodes == rec.episodes
    assert open(rec.layout.train_csv).read().count("\n") == 3  # header and the two kept rows, on disk too


def test_a_session_state_dict_holds_every_owner_and_loads_weights_only(tmp_path: Path):
    s = _session(tmp_path / "s")
    s.run()
    state = weights_only_copy(s.state_dict())
    assert set(state) == {"frame", "agents", "agent_space", "envs", "session"} and state["frame"] == 400
    assert state["agent_space"] == {"frames": [400]} and "sim" in state["envs"][0]
    assert state["session"]["obs"]["0"].shape == (2, 4) and state["session"]["best_evals"][0] > -math.inf
    other = _session(tmp_path / "s")
    other._build()
    assert other.load_state_dict(state) is True  # the env's simulation came back: no reset needed
    assert np.array_equal(other.obs[0], s.obs[0]) and other.agent_space.frames == [400]
    assert (other.next_log, other.next_eval) == (s.next_log, s.next_eval) and other.env.clock.frame == 400
    other.env_space.close()
    for env in other.eval_envs:
        env.close()


def test_every_agents_checkpoint_holds_its_envs_observation_statistics(tmp_path: Path):
    a2c = {"algorithm": {"name": "A2C", "training_frequency": 8}, "memory": {"name": "OnPolicyBatchReplay"},
           "net": {"hid_layers": [8]}}
    spec = validate({"name": "two_agents_norm", "agent": [a2c, a2c],
                     "env": [{"name": "CartPole-v1", "num_envs": 3, "max_frame": 300, "normalize_obs": True}],
                     "body": {"product": "custom", "custom": [[0, 0, 2], [1, 0, 0], [1, 0, 1]]},
                     "meta": {"max_session": 1, "log_frequency": 150, "eval_frequency": 150, "eval_episodes": 2}})
    s = Session(spec, tmp_path / "s")
    s.run()
    for a in range(2):
        for kind in ("latest", "best"):
            state = torch.load(s.layout.agent_model(a, kind), weights_only=True)
            assert state["env_norm"]["obs"]["count"] > 1 and state["env_norm"]["obs"]["mean"].shape == (4,), (a, kind)


def test_a_resume_that_cannot_be_exact_continues_and_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture):
    from slm_lab.control import session as session_mod

    raw = tiny_spec({"name": "DQN", "training_start_step": 20, "training_frequency": 2}, {"name": "Replay", "max_size": 200},
                    net={"hid_layers": [8]}, env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
                    meta={"max_session": 1, "log_frequency": 100, "eval_frequency": 200, "eval_episodes": 2,
                          "checkpoint_frequency": 100, "checkpoint_memory": False})
    raw["name"] = "not_exact"
    spec = validate(raw)
    real = session_mod.save_session_checkpoint

    class Stop(Exception):
        pass

    def save_then_stop(s: Session):
        real(s)
        if s.env.clock.frame >= 200:
            raise Stop

    with monkeypatch.context() as m:
        m.setattr(session_mod, "save_session_checkpoint", save_then_stop)
        with pytest.raises(Stop):
            Session(spec, tmp_path / "s").run()
    with caplog.at_level("WARNING", logger="slm_lab"):
        Session(spec, tmp_path / "s", resume=True).run()
    warned = [r.getMessage() for r in caplog.records if "not exactly" in r.getMessage()]
    assert len(warned) == 1 and "a memory was not saved" in warned[0]
    assert (tmp_path / "s" / "session_done.json").is_file()
