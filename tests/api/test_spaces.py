"""Every Gymnasium observation space through the lab: encoded for the nets, checked before a run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import slm_lab
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_file
from spec_helpers import tiny_spec


def ppo_spec(env_id: str, max_frame: int = 400, net: dict | None = None) -> dict:
    return tiny_spec({"name": "PPO", "training_frequency": 32, "minibatch_size": 32, "training_epoch": 4, "gamma": 0.5,
                      "entropy_coef_spec": {"start_val": 0.01}},
                     {"name": "OnPolicyBatchReplay"}, net or {"hid_layers": [32]},
                     env={"name": f"space_envs:SpaceTest/{env_id}-v0", "num_envs": 4, "max_frame": max_frame},
                     meta={"max_session": 1, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 4})


@pytest.mark.parametrize("kind,dim", [("Discrete", 4), ("Multidiscrete", 7), ("Multibinary", 4), ("Dict", 6), ("Tuple", 6)])
def test_non_box_observations_become_flat_vectors(kind: str, dim: int) -> None:
    from slm_lab.env import make_env
    from slm_lab.spec.schema import EnvSpec

    env = make_env(EnvSpec(name=f"space_envs:SpaceTest/{kind}Identity-v0", num_envs=2), seed=0)
    assert env.spaces.obs_dim == dim
    obs = env.reset()
    assert obs.shape == (2, dim) and obs.dtype == np.float32
    if kind == "Discrete":  # one-hot
        assert set(obs.sum(1).tolist()) == {1.0} and set(np.unique(obs).tolist()) <= {0.0, 1.0}
    env.close()


@pytest.mark.parametrize("kind", ["Hwc", "Chw"])
def test_images_reach_the_net_channel_first(kind: str) -> None:
    from slm_lab.env import make_env
    from slm_lab.spec.schema import EnvSpec

    env = make_env(EnvSpec(name=f"space_envs:SpaceTest/{kind}Identity-v0", num_envs=2), seed=0)
    assert env.spaces.obs_dim == (3, 12, 12)
    obs = env.reset()
    assert obs.shape == (2, 3, 12, 12) and obs.dtype == np.uint8
    assert obs[0].max(axis=(1, 2)).max() > 0 and (obs[0].reshape(3, -1).max(1) > 0).sum() == 1  # one colour plane lit
    env.close()


CONV = {"type": "ConvNet", "conv_hid_layers": [[8, 3, 2]], "fc_hid_layers": [32]}


# each observation space, read by the net the lab gives it: a random policy scores 10 / n_symbols = 2.5
@pytest.mark.parametrize("kind,net", [("Discrete", None), ("Multidiscrete", None), ("Multibinary", None),
                                      ("Tuple", None), ("Dict", None), ("Hwc", CONV), ("Chw", CONV)])
def test_each_observation_space_learns_its_identity_task_past_90_percent(kind: str, net: dict | None) -> None:
    result = slm_lab.train(ppo_spec(f"{kind}Identity", max_frame=6000, net=net), f"{kind.lower()}_identity")
    assert result.sessions[0].eval["return"].iloc[-1] >= 9.0  # of the maximum 10


def _check(tmp_path: Path, spec: dict) -> list[str]:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"s": spec}))
    return check_file(path)


def test_check_refuses_unsupported_spaces_and_mismatches_before_running(tmp_path: Path) -> None:
    assert _check(tmp_path, ppo_spec("DictIdentity")) == ["s"]
    with pytest.raises(SpecError, match="observation space Graph.*is not supported"):
        _check(tmp_path, ppo_spec("GraphIdentity"))
    assert _check(tmp_path, ppo_spec("MultiDiscreteAction")) == ["s"]  # a factorized policy (tests/api/test_action_spaces.py)
    dqn = tiny_spec({"name": "DQN"}, {"name": "Replay"}, env={"name": "Pendulum-v1", "max_frame": 1000})
    with pytest.raises(SpecError, match="algorithm DQN needs discrete actions"):
        _check(tmp_path, dqn)
    assert not list((tmp_path / "data").glob("*")) if (tmp_path / "data").exists() else True
