"""Value normalization (MAPPO): debiased running statistics, a critic on the normalized scale,
values at their real scale, the statistics in the checkpoint (learning with it on:
tests/agent/test_ppo.py::test_cartpole_learns_quickly)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm.value_norm import VAR_MIN, ValueNorm
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.schema import AgentSpec

CARTPOLE = BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=2)


def test_statistics_are_debiased_moving_averages_computed_by_hand():
    norm = ValueNorm(beta=0.5)
    mean, std = norm.mean_std()
    assert (mean.item(), std.item()) == (0.0, 1.0)  # nothing seen: the critic's own scale
    norm.update(torch.tensor([1.0, 3.0]))
    # m = 0.5 * 2 = 1, q = 0.5 * 5 = 2.5, d = 0.5: mu = 2, sigma^2 = 5 - 4 = 1
    mean, std = norm.mean_std()
    assert math.isclose(mean.item(), 2.0, rel_tol=1e-6) and math.isclose(std.item(), 1.0, rel_tol=1e-6)
    norm.update(torch.tensor([5.0]))
    # m = 0.5 + 2.5 = 3, q = 1.25 + 12.5 = 13.75, d = 0.75: mu = 4, sigma^2 = 18.333 - 16
    mean, std = norm.mean_std()
    assert math.isclose(mean.item(), 4.0, rel_tol=1e-6)
    assert math.isclose(std.item(), math.sqrt(13.75 / 0.75 - 16.0), rel_tol=1e-5)
    x = torch.tensor([-3.0, 0.5, 7.0])
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x)
    torch.testing.assert_close(norm.normalize(torch.tensor([4.0])), torch.tensor([0.0]))


def test_constant_targets_keep_the_variance_floor():
    norm = ValueNorm()
    for _ in range(5):
        norm.update(torch.full((8,), 10.0))
    mean, std = norm.mean_std()
    assert math.isclose(mean.item(), 10.0, rel_tol=1e-4) and math.isclose(std.item() ** 2, VAR_MIN, rel_tol=1e-4)


def ppo(**algorithm):
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "PPO", "training_frequency": 4, "training_epoch": 3, "minibatch_size": 4,
                      "value_norm": True, **algorithm},
        "memory": {"name": "OnPolicyBatchReplay"},
        "net": {"hid_layers": [8]},
    })
    return make_agent(spec, CARTPOLE, max_frame=1000, seed=0)


def rollout(agent, steps: int, reward: float) -> None:
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, 4)).astype(np.float32)
        agent.update(s, agent.act(s), np.full(2, reward, np.float32), s, np.zeros(2, bool), np.zeros(2, bool),
                     frame=2 * (t + 1))


@pytest.mark.parametrize("algorithm", ["PPO", "A2C"])
def test_the_critic_learns_normalized_targets_and_values_come_out_at_real_scale(algorithm: str):
    agent = ppo(name=algorithm) if algorithm == "PPO" else make_agent(AgentSpec.model_validate({
        "algorithm": {"name": "A2C", "training_frequency": 4, "value_norm": True},
        "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [8]}}), CARTPOLE, max_frame=1000, seed=0)
    rollout(agent, steps=4, reward=100.0)  # large rewards: GAE targets near 100 after one rollout
    mean, std = agent.value_norm.mean_std()
    assert mean.item() > 50.0  # the statistics saw the rollout's targets
    states = torch.from_numpy(np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32))
    raw = agent.critic(states).squeeze(-1)
    # the value is the raw output on the targets' scale, and the value loss sees the raw output
    torch.testing.assert_close(agent.value(states), raw * std + mean)
    torch.testing.assert_close(agent.critic_scale(agent.value(states))[0], raw, rtol=1e-5, atol=1e-4)


def test_the_statistics_travel_in_the_critics_checkpoint():
    agent = ppo()
    rollout(agent, steps=4, reward=3.0)
    state = agent.state_dict()
    assert "value_norm.running_mean" in state["nets"]["critic"]
    fresh = ppo()
    fresh.load_state_dict(state, weights_only=True)
    for a, b in zip(agent.value_norm.mean_std(), fresh.value_norm.mean_std()):
        torch.testing.assert_close(a, b)


def test_recurrent_ppo_refuses_it():
    with pytest.raises(ValueError, match="value_norm is available for A2C and PPO"):
        AgentSpec.model_validate({"algorithm": {"name": "RecurrentPPO", "value_norm": True},
                                  "memory": {"name": "OnPolicyBatchReplay"}, "net": {"type": "RecurrentNet"}})

