"""Algorithm pieces: target-net updates, Double DQN targets, policy log-probs, schedules."""

from __future__ import annotations

import math

import numpy as np
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.policy import Schedule, categorical_log_prob_entropy, epsilon_greedy, gaussian_log_prob_entropy
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.schema import AgentSpec, ScheduleSpec

SPACES = BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=2)


def dqn(name="DQN", **net) -> object:
    spec = AgentSpec.model_validate({
        "algorithm": {"name": name, "training_start_step": 0, "training_frequency": 1},
        "memory": {"name": "Replay", "batch_size": 4, "max_size": 100},
        "net": {"hid_layers": [8], **net},
    })
    return make_agent(spec, SPACES, max_frame=1000, seed=0)


def fill(agent, steps=4):
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, 4)).astype(np.float32)
        agent.update(s, np.array([0, 1]), np.ones(2, np.float32), s, np.array([False, False]), np.array([False, False]), frame=2 * (t + 1))


def params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_replace_target_update_waits_for_update_frequency():
    agent = dqn(update_type="replace", update_frequency=6)
    before = params(agent.target_net).clone()
    fill(agent, steps=2)  # frames 2, 4: trained, but fewer than 6 frames since the last replacement
    assert torch.equal(params(agent.target_net), before)
    fill(agent, steps=1)  # frame 2 again is < 6 too; step to frame 8
    agent.update(*[np.zeros((2, 4), np.float32), np.array([0, 0]), np.zeros(2, np.float32), np.zeros((2, 4), np.float32),
                   np.array([False, False]), np.array([False, False])], frame=8)
    assert torch.equal(params(agent.target_net), params(agent.net))


def test_polyak_target_update_is_a_convex_mix():
    agent = dqn(update_type="polyak", polyak_coef=0.25)
    target0 = params(agent.target_net).clone()
    online_before = params(agent.net).clone()
    rng = np.random.default_rng(1)
    agent.memory.add(rng.normal(size=(4, 4)).astype(np.float32), np.zeros(4), np.ones(4, np.float32),
                     rng.normal(size=(4, 4)).astype(np.float32), np.zeros(4, bool), np.zeros(4, bool))
    agent.frame = 10
    agent.train()
    online_after = params(agent.net)
    assert not torch.equal(online_after, online_before)
    torch.testing.assert_close(params(agent.target_net), 0.75 * target0 + 0.25 * online_after)


def test_double_dqn_values_the_online_argmax_with_the_target_net():
    agent = dqn("DoubleDQN")
    with torch.no_grad():
        for p in agent.target_net.parameters():
            p.add_(torch.randn_like(p))
    s = torch.randn(16, 4)
    best = agent.net(s).argmax(-1)
    expected = agent.target_net(s).gather(-1, best[:, None]).squeeze(-1)
    torch.testing.assert_close(agent.next_q(s), expected)
    plain = dqn("DQN")
    plain.target_net.load_state_dict(agent.target_net.state_dict())
    torch.testing.assert_close(plain.next_q(s), agent.target_net(s).max(-1).values)


def test_epsilon_greedy_skips_q_only_when_every_body_explores():
    """Given a function for Q, epsilon-greedy calls it only when some body acts greedily, and
    draws the same actions from the same generator as when given Q itself."""
    q = torch.tensor([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    calls = []

    def q_fn():
        calls.append(1)
        return q

    for epsilon in (0.0, 0.3, 0.7, 1.0):
        for seed in range(20):
            given, lazy = np.random.default_rng(seed), np.random.default_rng(seed)
            expected = epsilon_greedy(q, epsilon, given)
            calls.clear()
            actions = epsilon_greedy(q_fn, epsilon, lazy, num_bodies=3, num_actions=3)
            np.testing.assert_array_equal(actions, expected)
            assert lazy.random() == given.random()  # the generators moved on alike
            explored_all = (np.random.default_rng(seed).random(3) < epsilon).all()
            assert len(calls) == (0 if explored_all else 1)
    assert epsilon_greedy(q_fn, 0.0, np.random.default_rng(0), 3, 3).tolist() == [1, 0, 2]


def test_dqn_acts_without_a_forward_pass_while_epsilon_is_one():
    agent = dqn()
    agent.explore.spec = ScheduleSpec(name="no_decay", start_val=1.0)
    forwards = []
    agent.net.register_forward_hook(lambda *_: forwards.append(1))
    actions = agent.act(np.zeros((2, 4), np.float32))
    assert actions.shape == (2,) and set(actions.tolist()) <= {0, 1} and forwards == []
    agent.explore.spec = ScheduleSpec(name="no_decay", start_val=0.0)
    agent.act(np.zeros((2, 4), np.float32))
    assert forwards == [1]


def test_categorical_log_prob_and_entropy():
    logits = torch.log(torch.tensor([[0.25, 0.75]]))
    log_prob, entropy = categorical_log_prob_entropy(logits, torch.tensor([1]))
    assert math.isclose(log_prob.item(), math.log(0.75), rel_tol=1e-6)
    assert math.isclose(entropy.item(), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), rel_tol=1e-6)


def test_gaussian_log_prob_matches_torch_distributions():
    mean, log_std, a = torch.randn(5, 3), torch.randn(3), torch.randn(5, 3)
    log_prob, entropy = gaussian_log_prob_entropy(mean, log_std, a)
    ref = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(log_prob, ref.log_prob(a).sum(-1))
    torch.testing.assert_close(entropy, ref.entropy().sum(-1))


def test_schedules():
    lin = Schedule(ScheduleSpec(name="linear_decay", start_val=1.0, end_val=0.1, start_step=100, end_step=1100))
    assert lin.value(0) == 1.0 and math.isclose(lin.value(600), 0.55) and math.isclose(lin.value(5000), 0.1)
    rate = Schedule(ScheduleSpec(name="rate_decay", start_val=1.0, end_val=0.01, start_step=0, end_step=100))
    assert math.isclose(rate.value(50), 0.1)
    assert Schedule(None, default=0.3).value(10) == 0.3


def test_checkpoint_round_trip_restores_weights():
    agent = dqn()
    fill(agent)
    state = agent.state_dict()
    fresh = dqn()
    fresh.load_state_dict(state)
    assert torch.equal(params(fresh.net), params(agent.net))
    assert fresh.opt_step == agent.opt_step > 0
