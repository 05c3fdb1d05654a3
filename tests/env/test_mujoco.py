"""MuJoCo (HalfCheetah-v5) runs end to end through the shipped SAC and PPO specs.

The benchmark budgets are far beyond a test; these runs check the wiring: a 17-d Box
observation, 6 bounded continuous actions, training steps taken, tables written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slm_lab.control.session import Session
from slm_lab.env import make_env
from slm_lab.spec.loader import load_spec
from slm_lab.spec.schema import EnvSpec


def test_halfcheetah_spaces():
    env = make_env(EnvSpec(name="HalfCheetah-v5", num_envs=2, max_frame=100), seed=0)
    try:
        assert env.spaces.obs_dim == 17 and env.spaces.action_dim == 6 and not env.spaces.is_discrete
        assert (env.spaces.action_low == -1).all() and (env.spaces.action_high == 1).all()
    finally:
        env.close()


@pytest.mark.parametrize("spec_file,spec_name,overrides", [
    ("benchmark/sac/sac_halfcheetah.json", "sac_halfcheetah", ["agent.0.algorithm.training_start_step=200"]),
    ("benchmark/ppo/ppo_halfcheetah.json", "ppo_halfcheetah", ["agent.0.algorithm.training_frequency=32"]),
])
def test_shipped_halfcheetah_spec_trains(spec_file: str, spec_name: str, overrides: list[str], tmp_path: Path):
    budget = ["env.0.max_frame=1024", "meta.max_session=1", "meta.log_frequency=256", "meta.eval_frequency=1024",
              "meta.eval_episodes=1"]
    spec = load_spec(spec_file, spec_name, budget + overrides)
    Session(spec, tmp_path).run()
    train = pd.read_csv(tmp_path / "train.csv")
    assert train["frame"].iloc[-1] == 1024
    assert train["opt_step"].iloc[-1] > 0  # it trained, not only acted
    losses = train["loss"].dropna()
    assert len(losses) > 0 and np.isfinite(losses).all()
    assert len(pd.read_csv(tmp_path / "eval.csv")) >= 1
