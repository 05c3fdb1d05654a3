"""The lab's memory tasks: the cue corridor's rules, CartPole without velocities, and their ids
working in a fresh interpreter (what a spawned session process is)."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from slm_lab.env import memory_tasks
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.schema import EnvSpec


@pytest.mark.parametrize("cue_action", [0, 1])
def test_cue_corridor_shows_the_cue_once_and_rewards_the_matching_action(cue_action: int):
    env = gym.make(memory_tasks.CUE_CORRIDOR, length=3)
    for seed in range(20):  # find an episode with this cue
        obs, _ = env.reset(seed=seed)
        if obs[0] == (1.0 if cue_action == 1 else -1.0):
            break
    observations, rewards = [obs], []
    for _ in range(3):  # the corridor: actions do not matter, nothing is paid
        obs, reward, terminated, truncated, _ = env.step(1 - cue_action)
        observations.append(obs)
        rewards.append(reward)
        assert not (terminated or truncated)
    np.testing.assert_array_equal(np.stack(observations)[:, 0], [observations[0][0], 0, 0, 0])  # cue at step 0 only
    np.testing.assert_array_equal(np.stack(observations)[:, 1], [0, 0, 0, 1])  # the junction flag on the last step
    _, reward, terminated, truncated, info = env.step(cue_action)
    assert rewards == [0.0, 0.0, 0.0] and reward == 1.0 and terminated and not truncated and info["success"]
    env.reset(seed=seed)
    for _ in range(3):
        env.step(cue_action)
    assert env.step(1 - cue_action)[1] == 0.0  # the wrong side at the junction pays nothing


def test_cue_corridor_cues_both_sides():
    env = gym.make(memory_tasks.CUE_CORRIDOR)
    cues = {float(env.reset(seed=s)[0][0]) for s in range(20)}
    assert cues == {-1.0, 1.0}


def test_cartpole_without_velocity_keeps_position_and_angle():
    full, partial = gym.make("CartPole-v1"), gym.make(memory_tasks.CARTPOLE_NO_VELOCITY)
    obs_full, _ = full.reset(seed=3)
    obs, _ = partial.reset(seed=3)
    assert partial.observation_space.shape == (2,) and partial.spec.max_episode_steps == 500
    np.testing.assert_array_equal(obs, obs_full[[0, 2]])
    for _ in range(5):
        obs_full = full.step(1)[0]
        obs = partial.step(1)[0]
        np.testing.assert_array_equal(obs, obs_full[[0, 2]])


def test_the_adapter_makes_them_in_a_fresh_process():
    code = ("from slm_lab.env.gymnasium import GymEnv\nfrom slm_lab.spec.schema import EnvSpec\n"
            "for name in ('slm_lab/CueCorridor-v0', 'slm_lab/CartPoleNoVelocity-v0'):\n"
            "    env = GymEnv(EnvSpec(name=name, num_envs=2), seed=0)\n"
            "    print(env.reset().shape)\n    env.close()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=PROGRESS_TIMEOUT_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(2,", "2)", "(2,", "2)"]


def test_a_bad_corridor_length_is_a_spec_error():
    from slm_lab.spec.errors import SpecError

    with pytest.raises(SpecError, match="length must be at least 1"):
        GymEnv(EnvSpec(name=memory_tasks.CUE_CORRIDOR, kwargs={"length": 0}), seed=0)
