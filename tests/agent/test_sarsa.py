"""SARSA: the on-policy TD target built by hand, the behaviour policy's draws, the action-space
check, and a short CartPole run that must clearly beat random."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm import check_action_spaces
from slm_lab.control.session import Session
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import load_spec, validate
from slm_lab.spec.schema import AgentSpec

SPACES = BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=2)
BOX = BodySpaces(obs_dim=3, action_dim=1, is_discrete=False, num_bodies=2,
                 action_low=np.array([-2.0], np.float32), action_high=np.array([2.0], np.float32))


def sarsa(explore: dict | None = None, policy: str = "epsilon_greedy", training_frequency: int = 3):
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "SARSA", "gamma": 0.9, "action_policy": policy, "training_frequency": training_frequency,
                      "explore_var_spec": explore or {"name": "no_decay", "start_val": 0.0}},
        "memory": {"name": "OnPolicyBatchReplay"},
        "net": {"hid_layers": [16]},
    })
    return make_agent(spec, SPACES, max_frame=1000, seed=0)


def test_target_uses_the_next_action_taken_and_bootstraps_on_truncation_only():
    agent = sarsa()  # epsilon 0: a fresh draw at s' is the greedy action
    rng = np.random.default_rng(0)
    states = rng.normal(size=(3, 2, 4)).astype(np.float32)
    next_states = rng.normal(size=(3, 2, 4)).astype(np.float32)
    with torch.no_grad():
        q_next = agent.net(torch.from_numpy(next_states))
    greedy = q_next.argmax(-1).numpy()
    # the stored next actions are the non-greedy ones, so using them (or not) shows in the target
    actions = np.stack([np.array([0, 1]), 1 - greedy[0], 1 - greedy[1]])
    rewards = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)
    terminated = np.array([[0, 0], [1, 0], [0, 0]], bool)  # body 0 ends at t=1: no bootstrap
    truncated = np.array([[0, 1], [0, 0], [0, 0]], bool)  # body 1 is cut off at t=0: bootstrap at its final obs
    a_next = np.array([
        [actions[1, 0], greedy[0, 1]],  # within the episode: the action taken next; truncated: drawn at s'
        [greedy[1, 0], actions[2, 1]],  # (terminated: not used)
        [greedy[2, 0], greedy[2, 1]],   # the rollout's last step: drawn at s'
    ])
    q_sa_next = q_next.gather(-1, torch.from_numpy(a_next).unsqueeze(-1)).squeeze(-1)
    y = torch.from_numpy(rewards) + 0.9 * (1 - torch.from_numpy(terminated).float()) * q_sa_next
    with torch.no_grad():
        q = agent.net(torch.from_numpy(states)).gather(-1, torch.from_numpy(actions).long().unsqueeze(-1)).squeeze(-1)
    expected_loss = torch.nn.functional.mse_loss(q, y)

    done = torch.from_numpy(terminated | truncated).float()
    torch.testing.assert_close(agent.next_actions(torch.from_numpy(actions), done, q_next), torch.from_numpy(a_next))
    for t in range(3):
        agent.update(states[t], actions[t], rewards[t], next_states[t], terminated[t], truncated[t], frame=2 * (t + 1))
    assert agent.opt_step == 1
    torch.testing.assert_close(agent._pending_stats["loss"][-1], expected_loss)


def test_policy_draws_follow_epsilon_and_temperature():
    q = torch.tensor([[0.0, 1.0]]).expand(4000, 2)
    greedy = sarsa({"name": "no_decay", "start_val": 0.0})
    assert (greedy.policy_sample(q) == 1).all()
    uniform = sarsa({"name": "no_decay", "start_val": 1.0})
    assert abs(uniform.policy_sample(q).float().mean().item() - 0.5) < 0.05
    hot = sarsa({"name": "no_decay", "start_val": 1.0}, policy="boltzmann")
    share = hot.policy_sample(q).float().mean().item()
    assert abs(share - 1 / (1 + np.exp(-1.0))) < 0.05  # softmax([0, 1]) puts 0.73 on action 1


def test_sarsa_in_a_continuous_env_is_a_spec_error():
    spec = AgentSpec.model_validate({"algorithm": {"name": "SARSA"}, "memory": {"name": "OnPolicyBatchReplay"}})
    with pytest.raises(SpecError, match="SARSA needs discrete actions"):
        make_agent(spec, BOX, max_frame=1000, seed=0)
    full = validate({"agent": [{"algorithm": {"name": "SARSA"}, "memory": {"name": "OnPolicyBatchReplay"}}],
                     "env": [{"name": "Pendulum-v1"}]})
    with pytest.raises(SpecError) as err:
        check_action_spaces(full)
    assert str(err.value) == "algorithm SARSA needs discrete actions, but env 'Pendulum-v1' has continuous actions"


def test_cartpole_beats_random(tmp_path: Path):
    """The shipped spec on a quarter of its budget; random CartPole scores about 22."""
    spec = load_spec("benchmark/sarsa/sarsa_cartpole.json", "sarsa_cartpole",
                     ["env.0.max_frame=50000", "meta.max_session=1", "meta.eval_frequency=10000", "meta.log_frequency=2000"])
    t0 = time.perf_counter()
    Session(spec, tmp_path).run()
    train, evals = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(tmp_path / "eval.csv")
    final_ma, best_eval = train["return_ma"].iloc[-1], evals["return"].max()
    print(f"sarsa cartpole: final return_ma {final_ma:.1f}, best eval {best_eval:.1f} in {time.perf_counter() - t0:.0f}s")
    assert final_ma > 3 * 22, f"training return_ma {final_ma:.1f}"
    assert best_eval > 150, f"best greedy evaluation {best_eval:.1f}"
