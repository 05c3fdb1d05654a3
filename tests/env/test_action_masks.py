"""Action masks from Gymnasium envs (a Dict observation's action_mask, or info["action_mask"]) reach the agent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slm_lab.control.trial import Trial
from slm_lab.env import make_env
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import EnvSpec

PICK = "tests.env.masked_env:PickLegal"


def test_dict_observation_mask_is_appended():
    env = make_env(EnvSpec(name=PICK, num_envs=2), seed=0)
    assert env.spaces.action_mask and env.spaces.obs_dim == 2 + 6
    state = env.reset()
    mask = state[:, 2:]
    assert set(np.unique(mask)) <= {0.0, 1.0} and (mask.sum(1) >= 1).all()
    legal = mask.argmax(1)  # some legal action
    assert env.step(legal).state.shape == (2, 8)
    env.close()


def test_info_mask_of_taxi_is_appended_to_a_one_hot_state():
    env = make_env(EnvSpec(name="Taxi-v4", action_mask="info"), seed=0)
    assert env.spaces.action_mask and env.spaces.obs_dim == 500 + 6
    state = env.reset()
    s = int(state[0, :500].argmax())
    np.testing.assert_array_equal(state[0, 500:], env.venv.envs[0].unwrapped.action_mask(s))
    env.close()


@pytest.mark.parametrize("algorithm,memory", [
    ({"name": "DQN", "training_start_step": 64, "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "end_step": 1500}},
     {"name": "Replay", "batch_size": 32, "max_size": 5000}),
    ({"name": "PPO", "training_frequency": 32, "minibatch_size": 64, "training_epoch": 2}, {"name": "OnPolicyBatchReplay"}),
])
def test_a_session_never_sends_an_illegal_action_and_learns_to_pick(tmp_path: Path, algorithm, memory):
    """PickLegal raises on an illegal action, so finishing is the property (thousands of steps, with
    exploration); the reward needs reading the mask: random legal play earns ~0.4 of 1 per step."""
    in_info = algorithm["name"] == "PPO"
    spec = validate({"name": "pick", "agent": [{"algorithm": algorithm, "memory": memory, "net": {"hid_layers": [32]}}],
                     "env": [{"name": PICK, "num_envs": 4, "max_frame": 4000, "kwargs": {"in_info": in_info},
                              "action_mask": "info" if in_info else "auto"}],
                     "meta": {"max_session": 1, "log_frequency": 1000, "eval_frequency": 2000, "eval_episodes": 4}})
    Trial(spec, tmp_path, show_progress=False).run()
    train = pd.read_csv(tmp_path / "session_0" / "train.csv")
    assert train["frame"].iloc[-1] == 4000
    assert train["return_ma"].iloc[-1] > 20 * 0.5  # above random legal play (~0.4 per step)
