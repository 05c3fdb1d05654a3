"""Short real runs of each AEB case: one agent in two envs, several agents in one env."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.control.trial import Trial
from slm_lab.spec.loader import load_spec, validate

A2C = {"name": "A2C", "lam": 0.95, "training_frequency": 16}


def spec(agents: int, envs: list[dict], body: dict | None = None, name: str = "aeb"):
    return validate({
        "name": name,
        "agent": [{"algorithm": A2C, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}}] * agents,
        "env": envs,
        "body": body or {"product": "outer"},
        "meta": {"max_session": 1, "log_frequency": 400, "eval_frequency": 800, "eval_episodes": 2},
    })


def test_one_agent_in_two_envs_shares_one_set_of_weights(tmp_path: Path):
    s = spec(1, [{"name": "CartPole-v1", "num_envs": 2, "max_frame": 1600},
                 {"name": "slm_lab.env.variants:CartPoleVariant", "kwargs": {"length": 1.0}, "max_t": 500,
                  "num_envs": 3, "max_frame": 2400}])
    env_space = EnvSpace(s, 0)
    agents = AgentSpace(s, env_space, 0)
    assert len(agents.agents) == 1 and agents.agents[0].spaces.num_bodies == 5
    actions = agents.act(env_space.reset())
    assert actions[0].shape == (2,) and actions[1].shape == (3,)
    env_space.close()

    metrics = Trial(s, tmp_path, show_progress=False).run()
    for pair in ("a0_e0", "a0_e1"):  # each env has its own curves, metrics and graphs
        train = pd.read_csv(tmp_path / "session_0" / pair / "train.csv")
        assert train["frame"].iloc[-1] in (1600, 2400) and train["return_ma"].notna().any()
        assert (tmp_path / "session_0" / pair / "session_graph.png").is_file()
        assert (tmp_path / pair / "trial_metrics.json").is_file()
    assert set(metrics["pairs"]) == {"a0_e0", "a0_e1"}
    # per-body curves: every finished episode of every body
    bodies = pd.read_csv(tmp_path / "session_0" / "a0_e1" / "bodies.csv")
    assert set(bodies["body"]) <= {0, 1, 2} and len(bodies) > 0
    # lockstep: the session ends when the first env has used its budget (both at step 800)
    assert json.loads((tmp_path / "session_0" / "session_done.json").read_text())["frame"] == 1600


def test_several_agents_split_one_multi_agent_env(tmp_path: Path):
    s = spec(3, [{"name": "pettingzoo:mpe2.simple_spread_v3", "kwargs": {"N": 3, "max_cycles": 25, "continuous_actions": False},
                  "max_frame": 1500}], name="mpe")
    env_space = EnvSpace(s, 0)
    agents = AgentSpace(s, env_space, 0)
    assert agents.assignment == {(0, 0): [0], (1, 0): [1], (2, 0): [2]}
    actions = agents.act(env_space.reset())
    assert actions[0].shape == (3,)
    env_space.close()
    Trial(s, tmp_path, show_progress=False).run()
    for a in range(3):
        evals = pd.read_csv(tmp_path / "session_0" / f"a{a}_e0" / "eval.csv")
        assert np.isfinite(evals["return"]).all()
        assert (tmp_path / "session_0" / "model" / ("best.pt" if a == 0 else f"agent{a}_best.pt")).is_file()


def test_custom_product_gives_named_bodies_to_agents():
    s = spec(2, [{"name": "CartPole-v1", "num_envs": 3, "max_frame": 300}],
             body={"product": "custom", "custom": [[0, 0, 2], [1, 0, 0], [1, 0, 1]]})
    env_space = EnvSpace(s, 0)
    agents = AgentSpace(s, env_space, 0)
    assert agents.assignment == {(0, 0): [2], (1, 0): [0, 1]}
    assert [a.spaces.num_bodies for a in agents.agents] == [1, 2]
    env_space.close()


def test_shipped_aeb_specs_validate():
    for name in ("a2c_multitask_cartpole",):
        assert load_spec("aeb/multitask_cartpole.json", name).env[1].name.endswith("CartPoleVariant")
    assert len(load_spec("aeb/mpe_spread.json", "a2c_mpe_spread_independent").agent) == 3
