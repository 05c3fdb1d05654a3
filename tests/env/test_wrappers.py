"""Env processing: Atari preprocessing, frame-once replay, observation / reward normalization."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch

from slm_lab.agent.memory.atari import AtariReplay
from slm_lab.agent.memory.replay import Replay
from slm_lab.control.session import load_checkpoint, save_checkpoint
from slm_lab.env import wrappers
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import AtariReplaySpec, EnvSpec, MLPNetSpec, ReplaySpec

FRAME_BYTES = 84 * 84


# --- Atari ---------------------------------------------------------------------------------


def test_pong_observations_are_stacked_grey_uint8_frames():
    env = GymEnv(EnvSpec(name="ALE/Pong-v5", num_envs=2, max_frame=1000), seed=0)
    try:
        assert env.spaces.obs_dim == (4, 84, 84) and env.spaces.action_dim == 6 and env.spaces.is_discrete
        state = env.reset()
        assert state.shape == (2, 4, 84, 84) and state.dtype == np.uint8
        # reset pads the stack with copies of the first frame
        assert all(np.array_equal(state[b, 0], state[b, 3]) for b in range(2))
        for _ in range(30):
            result = env.step(np.random.default_rng(0).integers(0, 6, 2))
        assert result.state.dtype == np.uint8 and result.next_state.shape == (2, 4, 84, 84)
        # consecutive observations share 3 frames: the stack slides by one each step
        nxt = env.step(np.zeros(2, np.int64))
        assert np.array_equal(nxt.state[:, :3], result.state[:, 1:])
        assert set(np.unique(nxt.reward)) <= {-1.0, 0.0, 1.0}
    finally:
        env.close()


def test_atari_preprocessing_is_automatic_for_ale_ids_and_can_be_turned_off():
    assert EnvSpec(name="ALE/Pong-v5").is_atari()
    assert not EnvSpec(name="ALE/Pong-v5", preprocess="none").is_atari()
    assert EnvSpec(name="ALE/Pong-v5").stack_size() == 4
    assert EnvSpec(name="CartPole-v1").stack_size() == 1
    assert EnvSpec(name="CartPole-v1", frame_stack=3).stack_size() == 3
    assert wrappers.make_kwargs(EnvSpec(name="ALE/Pong-v5"))["frameskip"] == 1  # the wrapper skips frames


def test_processing_keys_are_checked():
    base = {"agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}]}
    with pytest.raises(SpecError, match="normalize_obs does not apply to Atari"):
        validate({**base, "env": [{"name": "ALE/Pong-v5", "normalize_obs": True}]})
    with pytest.raises(SpecError, match="episodic_life needs Atari"):
        validate({**base, "env": [{"name": "CartPole-v1", "episodic_life": True}]})


def test_an_mlp_on_atari_frames_is_a_clear_spec_error():
    from slm_lab.agent import make_agent

    dqn = {"algorithm": {"name": "DQN"}, "memory": {"name": "AtariReplay"}}
    # caught by validation, before anything runs
    with pytest.raises(SpecError, match=r"agent\[0\]\.net\.type: MLPNet cannot take the Atari frames of env\[0\].*use ConvNet"):
        validate({"agent": [dqn], "env": [{"name": "ALE/Pong-v5"}]})
    with pytest.raises(SpecError, match="RecurrentNet runs over env\\[0\\].frame_stack"):
        validate({"agent": [{"algorithm": {"name": "A2C"}, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"type": "RecurrentNet"}}],
                  "env": [{"name": "CartPole-v1"}]})
    # and by the net itself for envs whose observations are only known once made
    env = GymEnv(EnvSpec(name="ALE/Pong-v5", max_frame=100), seed=0)
    spec = validate({"agent": [{**dqn, "net": {"type": "ConvNet"}}], "env": [{"name": "ALE/Pong-v5"}]})
    try:
        with pytest.raises(SpecError, match="MLPNet takes vector observations.*ConvNet"):
            make_agent(spec.agent[0].model_copy(update={"net": MLPNetSpec()}), env.spaces, 100, 0)
    finally:
        env.close()


def test_episodic_life_ends_the_agents_episode_but_not_the_game():
    env = GymEnv(EnvSpec(name="ALE/Breakout-v5", num_envs=1, max_frame=10**6, episodic_life=True), seed=0)
    rng = np.random.default_rng(0)
    try:
        state = env.reset()
        for _ in range(3000):
            result = env.step(rng.integers(0, 4, 1))
            if result.terminated[0]:
                break
        assert result.terminated[0], "no life was lost in 3000 random steps"
        assert env.clock.episode == 0, "a lost life must not end the game"
        assert np.array_equal(result.state, result.next_state)  # the game goes on: no reset
        state = result.state
        assert state.dtype == np.uint8
    finally:
        env.close()


# --- frame-once replay ---------------------------------------------------------------------


class StackedFrames:
    """A stand-in for FrameStackObservation over random frames: stacks of k, reset padding."""

    def __init__(self, bodies: int, k: int, rng: np.random.Generator, shape=(6, 5)) -> None:
        self.bodies, self.k, self.rng, self.shape = bodies, k, rng, shape
        self.stacks = [self._reset() for _ in range(bodies)]

    def _reset(self) -> deque:
        first = self.rng.integers(0, 256, self.shape, dtype=np.uint8)
        return deque([first] * self.k, maxlen=self.k)

    def obs(self) -> np.ndarray:
        return np.stack([np.stack(s) for s in self.stacks])

    def step(self, end_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(next_state as stored, state to act on next, terminated, truncated)."""
        for s in self.stacks:
            s.append(self.rng.integers(0, 256, self.shape, dtype=np.uint8))
        next_state = self.obs()
        terminated = self.rng.random(self.bodies) < end_prob
        truncated = ~terminated & (self.rng.random(self.bodies) < end_prob)
        for b in np.flatnonzero(terminated | truncated):
            self.stacks[b] = self._reset()
        return next_state, self.obs(), terminated, truncated


def fill_both(steps: int, max_size: int, bodies: int = 3, k: int = 4, end_prob: float = 0.05):
    rng = np.random.default_rng(0)
    env = StackedFrames(bodies, k, rng)
    frame_replay = AtariReplay(AtariReplaySpec(batch_size=32, max_size=max_size), np.random.default_rng(1))
    full_replay = Replay(ReplaySpec(batch_size=32, max_size=max_size), np.random.default_rng(1))
    log = []  # every transition in order: (body, state, action, reward, next_state, terminated)
    state = env.obs()
    for t in range(steps):
        action = rng.integers(0, 6, bodies)
        reward = rng.normal(size=bodies).astype(np.float32)
        next_state, new_state, term, trunc = env.step(end_prob)
        frame_replay.add(state, action, reward, next_state, term, trunc)
        full_replay.add(state, action, reward, next_state, term, trunc)
        log += [(b, state[b], action[b], reward[b], next_state[b], term[b]) for b in range(bodies)]
        state = new_state
    return frame_replay, full_replay, log


def test_frame_replay_rebuilds_every_stored_transition_exactly():
    memory, _, log = fill_both(steps=400, max_size=3 * 90)  # the ring wraps several times
    lookup = {(b, s.tobytes(), n.tobytes()): (a, r, d) for b, s, a, r, n, d in log}
    batch = memory.sample(2000)
    for i in range(2000):
        key = next(k for k in ((b, batch["states"][i].numpy().tobytes(), batch["next_states"][i].numpy().tobytes()) for b in range(3)) if k in lookup)
        a, r, d = lookup[key]
        assert batch["actions"][i].item() == a and batch["rewards"][i].item() == pytest.approx(r) and batch["terminated"][i].item() == float(d)
    # only the most recent transitions are held, and episode starts (stacks padded with the first
    # frame) come back as the env handed them out
    states = batch["states"].numpy()
    assert any(np.array_equal(s[0], s[3]) for s in states), "no episode start was sampled"


def test_frame_replay_holds_the_recent_transitions_and_counts_them():
    memory, _, log = fill_both(steps=400, max_size=3 * 90)
    assert len(memory) <= 3 * 90
    assert len(memory) >= 3 * (90 - 4 * 10)  # at most a few slots per episode hold no transition
    recent = {(s.tobytes(), n.tobytes()) for _, s, _, _, n, _ in log[-3 * 40:]}
    held = memory.sample(5000)
    pairs = {(s.numpy().tobytes(), n.numpy().tobytes()) for s, n in zip(held["states"], held["next_states"])}
    assert len(recent & pairs) > 0.9 * len(recent)
    old = {(s.tobytes(), n.tobytes()) for _, s, _, _, n, _ in log[: 3 * 200]}
    assert not (old & pairs), "overwritten transitions were sampled"


def test_frame_replay_stores_each_frame_once():
    """Bytes per transition: about one frame, 8x less than storing s and s' stacks of 4."""
    frame_replay_atari = AtariReplay(AtariReplaySpec(max_size=1_000_000), np.random.default_rng(0))
    frames = np.zeros((1, 4, 84, 84), np.uint8)
    frame_replay_atari.add(frames, np.zeros(1, np.int64), np.zeros(1, np.float32), frames, np.zeros(1, bool), np.zeros(1, bool))
    per_transition = frame_replay_atari.bytes_per_transition()
    print(f"AtariReplay: {per_transition:.0f} bytes per transition (frame {FRAME_BYTES}); "
          f"1M transitions = {per_transition * 1e6 / 2**30:.2f} GiB")
    assert FRAME_BYTES <= per_transition <= FRAME_BYTES + 32
    assert per_transition * 1_000_000 < 7 * 2**30  # well under 8 GiB
    # a uniform replay keeps two whole stacks per transition: 8 frames
    full_replay = Replay(ReplaySpec(max_size=1000), np.random.default_rng(0))
    full_replay.add(frames, np.zeros(1, np.int64), np.zeros(1, np.float32), frames, np.zeros(1, bool), np.zeros(1, bool))
    full = sum(a.nbytes for a in full_replay.arrays.values()) / full_replay.max_size
    assert full / per_transition > 7.9


def test_dqn_trains_on_pong_frames_with_a_dueling_convnet():
    from slm_lab.agent import make_agent

    env = GymEnv(EnvSpec(name="ALE/Pong-v5", num_envs=2, max_frame=200), seed=0)
    spec = validate({
        "agent": [{"algorithm": {"name": "DoubleDQN", "training_start_step": 64, "training_frequency": 8},
                   "memory": {"name": "AtariReplay", "batch_size": 8, "max_size": 1000},
                   "net": {"type": "ConvNet", "dueling": True, "conv_hid_layers": [[16, 8, 4], [32, 4, 2]], "fc_hid_layers": [64]}}],
        "env": [{"name": "ALE/Pong-v5"}],
    })
    agent = make_agent(spec.agent[0], env.spaces, 200, 0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    state = env.reset()
    try:
        while not env.clock.done():
            action = agent.act(state)
            r = env.step(action)
            agent.update(state, action, r.reward, r.next_state, r.terminated, r.truncated, env.clock.frame)
            state = r.state
    finally:
        env.close()
    assert agent.opt_step > 0 and len(agent.memory) == 200
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))


# --- normalization -------------------------------------------------------------------------


def test_observation_normalization_standardizes_and_shares_frozen_stats_with_eval():
    spec = EnvSpec(name="CartPole-v1", num_envs=4, max_frame=10**6, normalize_obs=True)
    env = GymEnv(spec, seed=0)
    eval_env = GymEnv(spec, seed=1, num_envs=2, train_env=env)
    rng = np.random.default_rng(0)
    try:
        env.reset()
        seen = []
        for _ in range(500):
            result = env.step(rng.integers(0, 2, 4))
            seen.append(result.state)
        rms = wrappers.find_wrapper(env.venv, wrappers.NormalizeObservation).obs_rms
        assert not np.allclose(rms.mean, 0.0) and not np.allclose(rms.var, 1.0)
        seen = np.concatenate(seen[100:])
        assert np.all(np.abs(seen.mean(0)) < 0.3) and np.all(np.abs(seen.std(0) - 1.0) < 0.3)
        eval_rms = wrappers.find_wrapper(eval_env.venv, wrappers.NormalizeObservation)
        assert eval_rms.obs_rms is rms and not eval_rms.update_running_mean
        count = rms.count
        eval_env.reset()
        eval_env.step(np.zeros(2, np.int64))
        assert rms.count == count, "evaluation moved the training statistics"
    finally:
        env.close()
        eval_env.close()


def test_final_observation_is_normalized_too():
    env = GymEnv(EnvSpec(name="CartPole-v1", num_envs=2, max_frame=10**6, normalize_obs=True), seed=0)
    try:
        env.reset()
        for _ in range(200):
            result = env.step(np.zeros(2, np.int64))  # always left: episodes end fast
            if result.terminated.any():
                break
        b = int(np.flatnonzero(result.terminated)[0])
        rms = wrappers.find_wrapper(env.venv, wrappers.NormalizeObservation).obs_rms
        raw = result.next_state[b] * np.sqrt(rms.var + 1e-8) + rms.mean
        assert abs(raw[2]) > 0.2, "the final observation is not the normalized terminal state (pole angle past 12 degrees)"
    finally:
        env.close()


def test_reward_normalization_scales_rewards_but_returns_stay_raw():
    env = GymEnv(EnvSpec(name="CartPole-v1", num_envs=2, max_frame=10**6, normalize_reward=True), seed=0)
    rng = np.random.default_rng(0)
    try:
        env.reset()
        rewards = [env.step(rng.integers(0, 2, 2)).reward for _ in range(300)]
        assert not np.allclose(np.concatenate(rewards[50:]), 1.0)
        finished = env.drain_finished()
        assert finished and all(ret == length for _, ret, length in finished)  # CartPole: +1 a step
    finally:
        env.close()


def test_atari_reward_clipping_keeps_raw_returns():
    """Space Invaders pays 5 to 30 points an alien: the agent learns from sign(reward), while the
    returns the lab records stay the game's own score."""
    env = GymEnv(EnvSpec(name="ALE/SpaceInvaders-v5", num_envs=2, max_frame=10**6), seed=0)  # Atari: clipped by default
    rng = np.random.default_rng(0)
    try:
        env.reset()
        clipped = np.concatenate([env.step(rng.integers(0, env.spaces.action_dim, 2)).reward for _ in range(400)])
        assert set(np.unique(clipped).tolist()) <= {-1.0, 0.0, 1.0}  # what the agent learns from
        hits = int((clipped > 0).sum())
        assert hits > 0, "no alien was hit in 400 random steps"
        recorded = sum(ret for _, ret, _ in env.drain_finished()) + env.episodes.returns.sum()
        assert recorded >= 5 * hits  # the game's score: at least 5 points for each hit
    finally:
        env.close()


def test_normalization_stats_survive_a_checkpoint_round_trip(tmp_path: Path):
    from slm_lab.agent import make_agent

    spec = EnvSpec(name="CartPole-v1", num_envs=2, max_frame=10**6, normalize_obs=True, normalize_reward=True)
    env = GymEnv(spec, seed=0)
    rng = np.random.default_rng(0)
    env.reset()
    for _ in range(100):
        env.step(rng.integers(0, 2, 2))
    agent_spec = validate({"agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}], "env": [{"name": "CartPole-v1"}]}).agent[0]
    agent = make_agent(agent_spec, env.spaces, 100, 0)
    path = tmp_path / "model" / "best.pt"
    save_checkpoint(agent, path, env)
    state = load_checkpoint(path)  # weights_only=True
    assert set(state["env_norm"]) == {"obs", "reward"}
    fresh = GymEnv(spec, seed=1, evaluation=True)
    try:
        fresh.load_norm_state_dict(state["env_norm"])
        before = wrappers.find_wrapper(env.venv, wrappers.NormalizeObservation).obs_rms
        after = wrappers.find_wrapper(fresh.venv, wrappers.NormalizeObservation).obs_rms
        np.testing.assert_allclose(after.mean, before.mean)
        np.testing.assert_allclose(after.var, before.var)
        assert after.count == before.count
        # evaluation: frozen statistics and no reward wrappers
        assert not wrappers.find_wrapper(fresh.venv, wrappers.NormalizeObservation).update_running_mean
        assert wrappers.find_wrapper(fresh.venv, wrappers.KeepRawReward) is None
    finally:
        env.close()
        fresh.close()
    plain = GymEnv(EnvSpec(name="CartPole-v1", max_frame=100), seed=0)
    try:
        save_checkpoint(agent, tmp_path / "plain.pt", plain)
        assert "env_norm" not in load_checkpoint(tmp_path / "plain.pt")
    finally:
        plain.close()


def test_frame_replay_survives_a_checkpoint_round_trip():
    from slm_lab.control.resume import memory_checkpointable

    memory, _, _ = fill_both(steps=60, max_size=3 * 90)
    assert memory_checkpointable(memory)
    restored = AtariReplay(AtariReplaySpec(batch_size=32, max_size=3 * 90), np.random.default_rng(1))
    restored.load_state_dict(memory.state_dict())
    assert len(restored) == len(memory) and restored.stack == memory.stack
    for key in AtariReplay.STATE_ARRAYS + ("head", "filled", "starts"):
        np.testing.assert_array_equal(getattr(restored, key), getattr(memory, key))
    memory.rng, restored.rng = np.random.default_rng(5), np.random.default_rng(5)
    a, b = memory.sample(), restored.sample()
    for key in a:
        torch.testing.assert_close(a[key], b[key])
