"""Short real runs of each AEB case: one agent in two envs, several agents in one env."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.control.trial import Trial
from slm_lab.spec.errors import SpecError
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


TAG = {"name": "pettingzoo:mpe2.simple_tag_v3", "kwargs": {"max_cycles": 25, "continuous_actions": False}, "max_frame": 2000}
PPO = {"name": "PPO", "training_frequency": 25, "training_epoch": 2, "minibatch_size": 25}


def tag_spec(agents: list[dict], custom: list[list[int]], name: str = "tag"):
    return validate({"name": name, "agent": agents, "env": [TAG], "body": {"product": "custom", "custom": custom},
                     "meta": {"max_session": 1, "log_frequency": 500, "eval_frequency": 1000, "eval_episodes": 1}})


def test_heterogeneous_agents_get_their_own_spaces_algorithm_and_tables(tmp_path: Path):
    # the adversaries (obs 16) under one A2C, the good agent (obs 14) under PPO with another net
    s = tag_spec([{"name": "predators", "algorithm": A2C, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}},
                  {"name": "prey", "algorithm": PPO, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [8, 8]}}],
                 [[0, 0, 0], [0, 0, 1], [0, 0, 2], [1, 0, 3]])
    env_space = EnvSpace(s, 0)
    agents = AgentSpace(s, env_space, 0)
    spaces = [a.spaces for a in agents.agents]
    assert [(sp.obs_dim, sp.num_bodies) for sp in spaces] == [(16, 3), (14, 1)]
    assert type(agents.agents[0]).__name__ == "A2C" and type(agents.agents[1]).__name__ == "PPO"
    assert agents.act(env_space.reset())[0].shape == (4,)
    env_space.close()

    metrics = Trial(s, tmp_path, show_progress=False).run()
    baselines = {}
    for pair in ("a0_e0", "a1_e0"):
        train = pd.read_csv(tmp_path / "session_0" / pair / "train.csv")
        assert train["frame"].iloc[-1] == 2000 and train["return_ma"].notna().any()
        assert (tmp_path / "session_0" / pair / "session_graph.png").is_file()
        baselines[pair] = metrics["pairs"][pair]["random_baseline"]
    # each side is measured against its own role under a random joint policy: catching pays, being caught costs
    assert baselines["a0_e0"] > 0 > baselines["a1_e0"]


def test_an_agent_with_bodies_of_different_spaces_is_named():
    s = tag_spec([{"algorithm": A2C, "memory": {"name": "OnPolicyBatchReplay"}}] * 2, [[0, 0, 0], [0, 0, 3], [1, 0, 1], [1, 0, 2]])
    env_space = EnvSpace(s, 0)
    try:
        with pytest.raises(SpecError, match=r"agent 0: .*adversary_0 \(obs 16.*agent_0 \(obs 14"):
            AgentSpace(s, env_space, 0)
    finally:
        env_space.close()


def test_agents_sharing_a_team_name_get_team_tables(tmp_path: Path):
    adversary = {"team": "predators", "algorithm": A2C, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [16]}}
    prey = {"team": "prey", "algorithm": {"name": "Random"}, "memory": {"name": "OnPolicyReplay"}}
    s = tag_spec([adversary, adversary, adversary, prey], [[0, 0, 0], [1, 0, 1], [2, 0, 2], [3, 0, 3]], name="teams")
    metrics = Trial(s, tmp_path, show_progress=False).run()
    team = tmp_path / "session_0" / "team_predators_e0"
    train, evals = pd.read_csv(team / "train.csv"), pd.read_csv(team / "eval.csv")
    assert train["frame"].iloc[-1] == 2000 and set(pd.read_csv(team / "bodies.csv")["body"]) == {0, 1, 2}
    # the adversaries share one reward, so the team's eval return equals each member's
    member = pd.read_csv(tmp_path / "session_0" / "a1_e0" / "eval.csv")
    np.testing.assert_allclose(evals["return"], member["return"])
    assert set(metrics["teams"]) == {"team_predators_e0"}  # a one-agent team is that agent's own records
    assert (tmp_path / "team_predators_e0" / "trial_metrics.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_the_trained_good_agent_evades_random_adversaries_better_than_a_random_one(tmp_path: Path):
    """Shipped spec ppo_mpe_tag_vs_random_predators, 30k frames: the good agent's training return
    beats its random-joint-policy baseline (about -17) by a clear margin (about -9 to -12 measured at 20k-40k)."""
    s = load_spec("aeb/mpe_tag.json", "ppo_mpe_tag_vs_random_predators")
    s = validate({**s.model_dump(mode="json"), "env": [{**s.env[0].model_dump(mode="json"), "max_frame": 30000}],
                  "meta": {**s.meta.model_dump(mode="json"), "max_session": 1}})
    metrics = Trial(s, tmp_path, show_progress=False).run()
    prey = metrics["pairs"]["a1_e0"]
    train = pd.read_csv(tmp_path / "session_0" / "a1_e0" / "train.csv")
    assert train["return_ma"].iloc[-1] > prey["random_baseline"] + 4.0
