"""NoisyLinear (Fortunato et al. 2018): factorized noise shapes, resampling, the deterministic
eval mode, and a noisy DQN acting greedily without epsilon."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.net.mlp import DuelingHead
from slm_lab.agent.net.noisy import NoisyLinear
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


def test_factorized_noise_shapes_and_resampling():
    layer = NoisyLinear(5, 3, sigma0=0.5)
    assert layer.eps_in.shape == (5,) and layer.eps_out.shape == (3,)
    torch.testing.assert_close(layer.weight_sigma, torch.full((3, 5), 0.5 / 5 ** 0.5))
    x = torch.randn(4, 5)
    y1 = layer(x)
    assert torch.equal(layer(x), y1)  # the same noise until resampled
    eps_in = layer.eps_in.clone()
    layer.resample_noise()
    assert not torch.equal(layer.eps_in, eps_in)
    assert not torch.allclose(layer(x), y1)
    # y = (mu + sigma * f(eps_out) f(eps_in)^T) x + mu_b + sigma_b f(eps_out)
    w = layer.weight_mu + layer.weight_sigma * torch.outer(layer.eps_out, layer.eps_in)
    torch.testing.assert_close(layer(x), x @ w.T + layer.bias_mu + layer.bias_sigma * layer.eps_out)


def test_eval_mode_is_deterministic_and_noise_is_not_checkpointed():
    layer = NoisyLinear(5, 3).eval()
    x = torch.randn(4, 5)
    y = layer(x)
    layer.resample_noise()
    assert torch.equal(layer(x), y)
    torch.testing.assert_close(y, x @ layer.weight_mu.T + layer.bias_mu)
    assert set(layer.state_dict()) == {"weight_mu", "weight_sigma", "bias_mu", "bias_sigma"}


def test_noisy_dueling_head_is_noisy_in_both_streams():
    head = DuelingHead(4, 2, atoms=3, noisy_sigma0=0.5)
    assert isinstance(head.value, NoisyLinear) and isinstance(head.advantage, NoisyLinear)
    assert head(torch.randn(7, 4)).shape == (7, 6)


SPACES = BodySpaces(obs_dim=4, action_dim=3, is_discrete=True, num_bodies=2)


def noisy_dqn():
    spec = AgentSpec.model_validate({
        # epsilon 1 would act at random: a noisy net ignores it and explores by its noise
        "algorithm": {"name": "DQN", "explore_var_spec": {"name": "no_decay", "start_val": 1.0}},
        "memory": {"name": "Replay"},
        "net": {"hid_layers": [16], "noisy": True, "noisy_sigma0": 2.0},
    })
    return make_agent(spec, SPACES, max_frame=1000, seed=0)


def test_noisy_dqn_acts_greedily_on_fresh_noise():
    a = noisy_dqn()
    s = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    actions = []
    for _ in range(20):
        act = a.act(s)
        head = a.net.head
        assert isinstance(head, NoisyLinear)
        np.testing.assert_array_equal(act, a.net(torch.from_numpy(s)).argmax(-1).numpy())  # greedy on this step's noise
        actions.append(tuple(act))
    assert len(set(actions)) > 1  # the noise changes between steps


def test_noisy_dqn_evaluates_with_mean_weights():
    a = noisy_dqn()
    s = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    greedy = [tuple(a.act_greedy(s)) for _ in range(5)]
    assert len(set(greedy)) == 1 and a.net.training
    a.net.eval()
    np.testing.assert_array_equal(greedy[0], a.net(torch.from_numpy(s)).argmax(-1).numpy())


def test_noisy_needs_a_dqn():
    with pytest.raises(ValueError, match="net.noisy needs algorithm DQN or DoubleDQN"):
        AgentSpec.model_validate({"algorithm": {"name": "SARSA"}, "memory": {"name": "OnPolicyBatchReplay"},
                                  "net": {"noisy": True}})
