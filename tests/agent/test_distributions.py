"""Action distributions as objects: the algorithm asks them to sample, act greedily and score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.distributions import Categorical, DiagGaussian, StateDependentGaussian
from slm_lab.agent.gsde import StateDependentNoise
from slm_lab.agent.policy import LOG_2PI
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec



def test_categorical_greedy_sample_and_log_prob():
    dist = Categorical()
    logits = torch.tensor([[0.0, 5.0, 0.0], [9.0, 0.0, 0.0]])
    assert dist.greedy(logits).tolist() == [1, 0]
    torch.manual_seed(0)
    assert dist.sample(logits.repeat(100, 1)[:, None].squeeze(1)).shape == (200,)
    log_prob, entropy = dist.log_prob_entropy(torch.zeros(1, 4), torch.tensor([2]))
    assert log_prob.item() == pytest.approx(-np.log(4)) and entropy.item() == pytest.approx(np.log(4))
    assert dist.log_prob_entropy(torch.zeros(1, 4), torch.tensor([2]), entropy=False)[1] is None


def test_diag_gaussian_uses_the_current_log_std_parameter():
    log_std = torch.nn.Parameter(torch.zeros(2))
    dist = DiagGaussian(lambda: log_std)
    mean = torch.zeros(1, 2)
    log_prob, entropy = dist.log_prob_entropy(mean, torch.zeros(1, 2))
    assert log_prob.item() == pytest.approx(-LOG_2PI)  # two dims of N(0; 0, 1)
    assert entropy.item() == pytest.approx(2 * (0.5 + 0.5 * LOG_2PI))
    with torch.no_grad():
        log_std.fill_(np.log(2.0))  # a loaded checkpoint changes the parameter in place
    assert dist.log_prob_entropy(mean, torch.zeros(1, 2))[1].item() == pytest.approx(2 * (0.5 + 0.5 * LOG_2PI + np.log(2.0)))
    assert torch.equal(dist.greedy(mean), mean)


def test_state_dependent_gaussian_splits_means_and_log_stds_and_redraws_its_noise():
    noise = StateDependentNoise(3, 2, -1.0)
    noise.resample(4)
    dist = StateDependentGaussian(noise, 2)
    out = torch.tensor([[1.0, 2.0, 0.0, 0.0]])  # means (1, 2), log-stds (0, 0)
    assert dist.greedy(out).tolist() == [[1.0, 2.0]]
    log_prob, _ = dist.log_prob_entropy(out, torch.tensor([[1.0, 2.0]]))
    assert log_prob.item() == pytest.approx(-LOG_2PI)
    dist.after_training()
    assert noise.theta is None


@pytest.mark.parametrize("algo,discrete,expected", [("PPO", True, Categorical), ("PPO", False, DiagGaussian),
                                                    ("REINFORCE", True, Categorical)])
def test_each_policy_gradient_algorithm_owns_its_distribution(algo, discrete, expected):
    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": algo}, "memory": {"name": "OnPolicyBatchReplay"}
                                     if algo == "PPO" else {"name": "OnPolicyReplay"}, "net": {"hid_layers": [8]}})
    spaces = BodySpaces(4, 2, True, 2) if discrete else BodySpaces(3, 2, False, 2, -np.ones(2, np.float32), np.ones(2, np.float32))
    agent = make_agent(spec, spaces, 1000, 0)
    assert type(agent.dist) is expected
    actions = agent.act(np.zeros((2, spaces.obs_dim), dtype=np.float32))
    assert actions.shape[0] == 2


def test_gsde_agents_use_the_state_dependent_distribution():
    spec = AgentSpec.model_validate({"name": "a", "algorithm": {"name": "PPO", "gsde": {"log_std_init": -1.0}},
                                     "memory": {"name": "OnPolicyBatchReplay"}, "net": {"hid_layers": [8]}})
    agent = make_agent(spec, BodySpaces(3, 1, False, 2, -np.ones(1, np.float32), np.ones(1, np.float32)), 1000, 0)
    assert isinstance(agent.dist, StateDependentGaussian) and agent.dist.noise is agent.noise
