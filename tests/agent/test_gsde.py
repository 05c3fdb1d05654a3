"""gSDE (Raffin et al. 2021): the noise is z(s) theta with theta held between draws; the
log-prob uses the state-dependent std; sigma learns, the features do not through the std."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from slm_lab.agent import make_agent
from slm_lab.agent.gsde import StateDependentNoise
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec
from test_ppo import CARTPOLE, PENDULUM, rollout


def gsde_ppo(spaces=PENDULUM, sample_freq: int = -1, shared: bool = False):
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "PPO", "training_frequency": 4, "training_epoch": 2, "minibatch_size": 4,
                      "gsde": {"sample_freq": sample_freq, "log_std_init": -1.0}},
        "memory": {"name": "OnPolicyBatchReplay"},
        "net": {"hid_layers": [8], "shared": shared},
    })
    return make_agent(spec, spaces, max_frame=1000, seed=0)


def test_the_noise_has_the_state_dependent_variance_it_claims():
    torch.manual_seed(0)
    noise = StateDependentNoise(feature_dim=3, action_dim=2, log_std_init=0.0)
    with torch.no_grad():
        noise.log_std.copy_(torch.tensor([[0.0, -1.0], [0.5, 0.0], [-0.5, 0.2]]))
    z = torch.tensor([[1.0, -2.0, 0.5]])
    draws = []
    for _ in range(20_000):
        noise.resample(1)
        draws.append(noise.noise(z))
    draws = torch.cat(draws)
    expected_var = z.pow(2) @ (2 * noise.log_std.detach()).exp()  # sum_j z_j^2 sigma_jk^2
    assert torch.allclose(draws.var(0), expected_var[0], rtol=0.05)
    assert torch.allclose(noise.action_log_std(z), 0.5 * (expected_var + 1e-6).log())
    # the std's gradient reaches sigma, never the features
    z_param = z.clone().requires_grad_(True)
    noise.action_log_std(z_param).sum().backward()
    assert z_param.grad is None and noise.log_std.grad.abs().sum() > 0


def test_noise_is_held_for_a_rollout_and_drawn_again_after_training():
    agent = gsde_ppo()
    state = np.random.default_rng(0).normal(size=(2, 3)).astype(np.float32)
    first, again = agent.act(state), agent.act(state)
    assert np.array_equal(first, again)  # same theta: the same state gets the same action
    assert not np.array_equal(first[0], first[1])  # each body has its own theta
    mean = agent.act_greedy(state)
    assert mean.shape == (2, 1) and not np.allclose(first, mean)
    rollout(agent, PENDULUM, steps=4)  # one training
    assert agent.opt_step > 0 and agent.noise.theta is None
    assert not np.array_equal(agent.act(state), first)


def test_sample_freq_draws_every_k_env_steps():
    agent = gsde_ppo(sample_freq=2)
    state = np.zeros((2, 3), np.float32) + 0.3
    actions = []
    for step in range(4):  # env_steps 0, 1, 2, 3: new theta at 0 and 2
        actions.append(agent.act(state))
        agent.env_steps = step + 1
    assert np.array_equal(actions[0], actions[1]) and np.array_equal(actions[2], actions[3])
    assert not np.array_equal(actions[1], actions[2])


@pytest.mark.parametrize("shared", [False, True])
def test_training_updates_sigma_and_uses_the_state_dependent_log_prob(shared: bool):
    agent = gsde_ppo(shared=shared)
    sigma = agent.net.noise.log_std.detach().clone()
    assert agent.net.log_std is None  # no state-independent std beside it
    states = torch.randn(5, 3)
    pout = agent.policy_out(states)
    assert pout.shape == (5, 2)  # mean, then log-std
    actions = torch.randn(5, 1)
    log_prob, _ = agent.log_prob_entropy(pout, actions)
    mean, log_std = pout.split(1, dim=-1)
    expected = (-0.5 * ((actions - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    assert torch.allclose(log_prob, expected, atol=1e-5)
    rollout(agent, PENDULUM, steps=4)
    assert not torch.equal(agent.net.noise.log_std.detach(), sigma)
    assert "noise.log_std" in agent.net.state_dict()  # checkpoints carry sigma


def test_gsde_is_refused_where_it_does_not_apply():
    with pytest.raises(SpecError, match="gsde needs continuous actions"):
        gsde_ppo(CARTPOLE)
    with pytest.raises(ValidationError, match="sample_freq"):
        AgentSpec.model_validate({"algorithm": {"name": "PPO", "gsde": {"sample_freq": 0}},
                                  "memory": {"name": "OnPolicyBatchReplay"}})
