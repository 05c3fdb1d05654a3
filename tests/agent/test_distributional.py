"""C51's projection and QR-DQN's quantile Huber loss against hand computations; the
distributional DQN options built with Double DQN, dueling, prioritized replay and noisy nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm.distributional import Categorical, categorical_projection, quantile_huber_loss
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec, CategoricalSpec

SUPPORT = torch.linspace(0.0, 4.0, 5)  # atoms 0, 1, 2, 3, 4: delta_z = 1


def test_c51_projection_by_hand():
    probs = torch.tensor([
        [0.0, 1.0, 0.0, 0.0, 0.0],  # r 0.5 + z 1 = 1.5: between atoms 1 and 2
        [0.2, 0.2, 0.2, 0.2, 0.2],  # r 10: every target above v_max, clipped onto atom 4
        [0.2, 0.2, 0.2, 0.2, 0.2],  # r -3 + 0.5 z in [-3, -1]: clipped onto atom 0
        [0.1, 0.2, 0.3, 0.4, 0.0],  # terminal (discount 0): all mass at r = 2.25
        [0.0, 0.0, 0.0, 0.5, 0.5],  # r 0.3 + z: 3.3 splits 0.7 / 0.3, 4.3 clips onto atom 4
        [0.5, 0.0, 0.5, 0.0, 0.0],  # r 1 + 0.5 z: 1 and 2 land exactly on atoms
    ])
    rewards = torch.tensor([0.5, 10.0, -3.0, 2.25, 0.3, 1.0])
    discounts = torch.tensor([1.0, 0.9, 0.5, 0.0, 1.0, 0.5])
    expected = torch.tensor([
        [0.0, 0.5, 0.5, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.75, 0.25, 0.0],
        [0.0, 0.0, 0.0, 0.35, 0.65],
        [0.0, 0.5, 0.5, 0.0, 0.0],
    ])
    target = categorical_projection(probs, rewards, discounts, SUPPORT)
    torch.testing.assert_close(target, expected)
    torch.testing.assert_close(target.sum(-1), torch.ones(6))


def test_c51_loss_is_the_cross_entropy_and_q_the_mean():
    head = Categorical(CategoricalSpec(num_atoms=5, v_min=0.0, v_max=4.0))
    logits = torch.tensor([[0.0, 1.0, 2.0, 0.0, -1.0]])
    target = torch.tensor([[0.0, 0.5, 0.5, 0.0, 0.0]])
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(head.loss(logits, target), -(0.5 * p[:, 1].log() + 0.5 * p[:, 2].log()))
    torch.testing.assert_close(head.q(logits), (p * SUPPORT).sum(-1))


@pytest.mark.parametrize("kappa,expected", [(1.0, 0.90625), (2.0, 0.640625)])
def test_quantile_huber_loss_by_hand(kappa: float, expected: float):
    # quantiles 0, 1 at tau = 0.25, 0.75; targets 0.5, 3: u = [[0.5, 3], [-0.5, 2]]
    # kappa 1: huber = [[0.125, 2.5], [0.125, 1.5]], weights [[.25, .25], [.25, .75]]
    #   -> (0.03125 + 0.625) / 2 + (0.03125 + 1.125) / 2 = 0.90625
    # kappa 2: huber / 2 = [[0.0625, 2], [0.0625, 1]] -> 0.2578125 + 0.3828125 = 0.640625
    loss = quantile_huber_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 3.0]]), kappa)
    assert loss.shape == (1,) and loss.item() == pytest.approx(expected)


SPACES = BodySpaces(obs_dim=4, action_dim=3, is_discrete=True, num_bodies=2)


def agent(algorithm: dict, memory: str = "Replay", **net):
    spec = AgentSpec.model_validate({
        "algorithm": {"training_start_step": 0, **algorithm},
        "memory": {"name": memory, "batch_size": 8, "max_size": 100},
        "net": {"hid_layers": [16], **net},
    })
    return make_agent(spec, SPACES, max_frame=1000, seed=0)


def fill(a, steps: int = 8):
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, 4)).astype(np.float32)
        a.memory.add(s, rng.integers(0, 3, 2), rng.normal(size=2).astype(np.float32), s + 1,
                     np.array([t == 5, False]), np.array([False, t == 6]))


C51 = {"type": "categorical", "num_atoms": 11, "v_min": -5.0, "v_max": 5.0}
QR = {"type": "quantile", "num_quantiles": 7, "kappa": 1.0}


def test_c51_double_dueling_per_builds_and_ranks_by_its_loss():
    a = agent({"name": "DoubleDQN", "distributional": C51}, "PrioritizedReplay", dueling=True)
    assert a.outputs(a.net, torch.zeros(5, 4)).shape == (5, 3, 11)
    fill(a)
    batch = a.memory.sample()
    before = params(a.net)
    seen = {}
    update = a.memory.update_priorities
    a.memory.update_priorities = lambda idx, p: (seen.setdefault("p", p), update(idx, p))
    stats = a.train_step(batch)
    assert not torch.equal(params(a.net), before)
    # one new priority per sample: its cross-entropy (positive, unlike a signed TD error)
    assert seen["p"].shape == (8,) and np.all(seen["p"] > 0)
    assert torch.isfinite(stats["loss"]) and torch.isfinite(stats["q_mean"])


def test_double_c51_picks_the_next_action_with_the_online_net():
    a = agent({"name": "DoubleDQN", "distributional": C51})
    s = torch.randn(6, 4)
    best = a.q_values(s).argmax(-1)
    target_out = a.outputs(a.target_net, s)
    torch.testing.assert_close(a.next_q(s), target_out[torch.arange(6), best])


def test_greedy_action_is_the_argmax_of_the_mean_q():
    a = agent({"name": "DQN", "distributional": QR})
    s = np.random.default_rng(1).normal(size=(2, 4)).astype(np.float32)
    quantiles = a.outputs(a.net, torch.from_numpy(s))
    np.testing.assert_array_equal(a.act_greedy(s), quantiles.mean(-1).argmax(-1).numpy())


@pytest.mark.parametrize("dist", [C51, QR])
def test_distributional_trains_with_nstep_noisy_dueling(dist: dict):
    a = agent({"name": "DoubleDQN", "distributional": dist, "n_step": 3}, "PrioritizedReplay", dueling=True, noisy=True)
    fill(a, steps=12)
    stats = a.train()
    assert torch.isfinite(stats["loss"]) and a.opt_step == 1


def test_distributional_needs_an_mlp_net():
    with pytest.raises(ValueError, match="distributional needs net.type MLPNet"):
        AgentSpec.model_validate({"algorithm": {"name": "DQN", "distributional": QR}, "memory": {"name": "Replay"},
                                  "net": {"type": "ConvNet"}})


def params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])
