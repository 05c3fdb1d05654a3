"""Dict observations with one encoder per entry (net.type MultiInputNet) through the real
train path, and `slm-lab check` refusing what MultiInputNet cannot take."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import slm_lab
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_file
from spec_helpers import tiny_spec

ENV = "multi_input_envs:ColourFlipEnv"
NET = {"type": "MultiInputNet", "conv_hid_layers": [[8, 3, 1]], "image_features": 32, "vector_hid_layers": [16],
       "hid_layers": [64], "optim_spec": {"name": "Adam", "lr": 3e-3}}

def ppo_spec(env: dict, net: dict | None = None, max_frame: int = 3000) -> dict:
    return tiny_spec({"name": "PPO", "training_frequency": 32, "minibatch_size": 32, "training_epoch": 4, "gamma": 0.5,
                      "entropy_coef_spec": {"start_val": 0.01}},
                     {"name": "OnPolicyBatchReplay"}, net or NET, env={"num_envs": 4, "max_frame": max_frame, **env},
                     meta={"max_session": 1, "log_frequency": 1000, "eval_frequency": 1000, "eval_episodes": 8})


def dqn_spec(env: dict, max_frame: int = 3000) -> dict:
    net = {**NET, "optim_spec": {"name": "Adam", "lr": 1e-3}, "update_frequency": 100}
    explore = {"name": "linear_decay", "start_val": 1.0, "end_val": 0.05, "start_step": 0, "end_step": 1000}
    return tiny_spec({"name": "DQN", "gamma": 0.5, "training_start_step": 64, "training_frequency": 4, "explore_var_spec": explore},
                     {"name": "Replay", "batch_size": 32, "max_size": 5000}, net, env={"num_envs": 4, "max_frame": max_frame, **env},
                     meta={"max_session": 1, "log_frequency": 1000, "eval_frequency": 1000, "eval_episodes": 8})


def random_return(channels_last: bool, episodes: int = 200) -> float:
    from multi_input_envs import ColourFlipEnv

    env, total = ColourFlipEnv(channels_last), 0.0
    env.action_space.seed(0)
    for ep in range(episodes):
        env.reset(seed=ep)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + reward, terminated or truncated
    return total / episodes

@pytest.mark.parametrize("algorithm,channels_last", [("PPO", True), pytest.param("PPO", False, marks=pytest.mark.slow),
                                                    pytest.param("DQN", True, marks=pytest.mark.slow)])
def test_dict_image_and_discrete_entries_learn_past_90_percent(algorithm: str, channels_last: bool) -> None:
    """The answer needs both entries (the image's colour and the Discrete shift): a random policy
    scores about 10/6, either entry alone at most 5; per-entry encoders reach >= 9 of 10."""
    assert random_return(channels_last) < 2.5
    make_spec = ppo_spec if algorithm == "PPO" else dqn_spec
    result = slm_lab.train(make_spec({"name": ENV, "kwargs": {"channels_last": channels_last}}), "colour_flip")
    assert result.metrics["num_failed_sessions"] == 0
    assert result.sessions[0].eval["return"].iloc[-1] >= 9.0
    # the saved policy, given the env's own dict observations, answers every (colour, shift) case
    from multi_input_envs import ColourFlipEnv

    env, policy = ColourFlipEnv(channels_last), slm_lab.load_policy(result.sessions[0].dir)
    cases = [(c, k) for c in range(3) for k in range(2)]
    observations = []
    for env.colour, env.shift in cases:
        observations.append(env._obs())
    assert policy.act(observations).tolist() == [c + 3 * k for c, k in cases]
    assert int(policy.act(observations[-1])) == 5

def _check(tmp_path: Path, spec: dict) -> list[str]:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"s": spec}))
    return check_file(path)

def test_check_accepts_a_dict_env_and_refuses_what_multi_input_net_cannot_take(tmp_path: Path) -> None:
    assert _check(tmp_path, ppo_spec({"name": ENV})) == ["s"]
    assert _check(tmp_path, ppo_spec({"name": ENV}, net={"hid_layers": [16]})) == ["s"]  # MLPNet reads it flat, as before
    with pytest.raises(SpecError, match=r"^s: env\[0\]: env 'CartPole-v1': net.type MultiInputNet needs a Tuple or Dict observation space"):
        _check(tmp_path, ppo_spec({"name": "CartPole-v1"}))
    with pytest.raises(SpecError, match="shrink observation entry 'image' of shape \\[6, 6, 3\\] to nothing"):
        _check(tmp_path, ppo_spec({"name": ENV}, net={**NET, "conv_hid_layers": [[8, 8, 4]]}))
    with pytest.raises(SpecError, match="MultiInputNet takes one Tuple / Dict observation at a time"):
        _check(tmp_path, ppo_spec({"name": ENV, "frame_stack": 4}))
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())

def test_check_refuses_an_unsupported_entry_inside_a_dict(tmp_path: Path) -> None:

    with pytest.raises(SpecError, match="observation space .* is not supported: a Box of rank 4"):
        _check(tmp_path, ppo_spec({"name": "multi_input_envs:RankFourEntryEnv"}))


def test_train_refuses_a_multi_input_net_on_a_box_env_before_writing(isolated_dirs: Path) -> None:
    with pytest.raises(SpecError, match="net.type MultiInputNet needs a Tuple or Dict observation space"):
        slm_lab.train(ppo_spec({"name": "CartPole-v1"}), "box")
    assert not isolated_dirs.exists() or not [p for p in isolated_dirs.iterdir() if p.is_dir()]
