"""TD3 / DDPG: target smoothing and the clipped double-Q target by hand, the one-critic DDPG target
through a real gradient step, delayed actor updates, exploration noise (Gaussian, OU) in env units,
and a short learning run on a one-step continuous task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm.td3 import clipped_double_q_target, smoothed_target_action
from slm_lab.agent.noise import GaussianNoise, OrnsteinUhlenbeckNoise
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec

BOX = BodySpaces(obs_dim=3, action_dim=2, is_discrete=False, num_bodies=2,
                 action_low=np.array([0.0, -1.0], np.float32), action_high=np.array([2.0, 3.0], np.float32))


def agent_of(name: str, spaces: BodySpaces = BOX, net: dict | None = None, **algorithm) -> object:
    spec = AgentSpec.model_validate({
        "algorithm": {"name": name, "training_start_step": 0, **algorithm},
        "memory": {"name": "Replay", "batch_size": 4, "max_size": 100},
        "net": {"hid_layers": [16], "update_type": "polyak", "polyak_coef": 0.1, **(net or {})},
    })
    return make_agent(spec, spaces, max_frame=1000, seed=0)


def fill(agent, steps: int = 4) -> None:
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, 3)).astype(np.float32)
        agent.update(s, agent.act(s), rng.normal(size=2).astype(np.float32), s,
                     np.array([t == 1, False]), np.array([False, False]), frame=2 * (t + 1))


def test_smoothing_noise_is_clipped_then_the_action_is_clipped():
    next_action = torch.tensor([0.9, -0.2, 0.1])
    noise = torch.tensor([0.7, -0.1, -0.9])  # clip 0.5: [0.5, -0.1, -0.5]
    a = smoothed_target_action(next_action, noise, noise_clip=0.5)
    torch.testing.assert_close(a, torch.tensor([1.0, -0.3, -0.4]))  # 1.4 clipped to the action bound 1


def test_clipped_double_q_target_by_hand():
    rewards, terminated = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    next_q = torch.tensor([[3.0, 5.0], [4.0, 1.0]])  # min over critics: [3, 1]
    y = clipped_double_q_target(rewards, terminated, next_q, gamma=0.9)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * 3.0, 2.0]))
    # one critic (DDPG): its own value
    torch.testing.assert_close(clipped_double_q_target(rewards, terminated, next_q[1:], 0.9), torch.tensor([1.0 + 0.9 * 4.0, 2.0]))


def test_ddpg_critic_loss_uses_one_critic_and_the_target_actor():
    agent = agent_of("DDPG", gamma=0.9)
    assert len(agent.critics) == 1 and len(agent.target_critics) == 1
    fill(agent)
    with torch.no_grad():  # perturb the online nets so a target that used them would differ
        for p in [*agent.actor.parameters(), *agent.critics.parameters()]:
            p.add_(0.5)
    batch = agent.memory.sample()
    agent.rng = np.random.default_rng(1)  # the expectation below replays no sampling: DDPG has none in its target
    with torch.no_grad():
        s, s2 = batch["states"], batch["next_states"]
        a2 = torch.tanh(agent.target_actor(s2))
        y = batch["rewards"] + 0.9 * (1 - batch["terminated"]) * agent.target_critics[0](torch.cat([s2, a2], -1)).squeeze(-1)
        unit = (batch["actions"] - torch.tensor([1.0, 1.0])) / torch.tensor([1.0, 2.0])
        q = agent.critics[0](torch.cat([s, unit], -1)).squeeze(-1)
    stats = agent.train_step(batch)
    torch.testing.assert_close(stats["critic_loss"], ((q - y) ** 2).mean())
    torch.testing.assert_close(stats["q_mean"], q.mean())


def test_actor_and_targets_update_every_policy_delay_critic_steps():
    agent = agent_of("TD3", policy_delay=3)
    assert len(agent.critics) == 2
    fill(agent)
    step = lambda name: int(next(iter(agent.optims[name].state.values()))["step"])
    critic0, actor0 = step("critics"), step("actor")  # fill trained already
    agent.opt_step = 0
    target_before = torch.cat([p.flatten() for p in agent.target_actor.parameters()]).clone()
    for _ in range(7):
        agent.train_step(agent.memory.sample())
        agent.opt_step += 1  # as OffPolicy.train counts it
    assert step("critics") - critic0 == 7
    assert step("actor") - actor0 == 3  # critic steps 0, 3 and 6
    assert not torch.equal(target_before, torch.cat([p.flatten() for p in agent.target_actor.parameters()]))


def test_exploration_noise_is_sigma_times_the_half_width_in_env_units():
    agent = agent_of("TD3", action_noise={"name": "gaussian", "sigma": 0.1})
    with torch.no_grad():
        for p in agent.actor.parameters():
            p.zero_()  # mu(s) = 0: the Box center
    agent.action_noise.shape = (4000, 2)
    actions = agent.act(np.zeros((4000, 3), np.float32))
    np.testing.assert_allclose(actions.mean(0), [1.0, 1.0], atol=0.02)  # centers of [0, 2] and [-1, 3]
    np.testing.assert_allclose(actions.std(0), [0.1, 0.2], rtol=0.05)  # half-widths 1 and 2
    assert agent.act_greedy(np.zeros((1, 3), np.float32)).tolist() == [[1.0, 1.0]]


def test_ou_noise_stationary_variance_autocorrelation_and_reset():
    sigma, theta, dt = 0.3, 0.5, 0.1
    noise = OrnsteinUhlenbeckNoise(sigma, (256, 1), np.random.default_rng(0), theta=theta, dt=dt)
    for _ in range(200):  # burn-in: 1 / (theta dt) = 20 steps per e-fold
        noise.sample()
    xs = np.stack([noise.sample()[:, 0] for _ in range(1000)])  # [time, body]
    np.testing.assert_allclose(xs.var(), sigma**2 / (theta * (2 - theta * dt)), rtol=0.05)
    lag1 = np.mean(xs[1:] * xs[:-1]) / np.mean(xs * xs)
    np.testing.assert_allclose(lag1, 1 - theta * dt, atol=0.01)
    noise.reset(np.arange(256) < 10)
    assert (noise.x[:10] == 0).all() and (noise.x[10:] != 0).all()
    g = GaussianNoise(0.2, (20000, 1), np.random.default_rng(0)).sample()
    np.testing.assert_allclose(g.std(), 0.2, rtol=0.02)


def test_ou_noise_restarts_at_episode_ends():
    agent = agent_of("DDPG", action_noise={"name": "ou", "sigma": 0.2})
    s = np.zeros((2, 3), np.float32)
    for _ in range(5):
        agent.act(s)
    agent.update(s, agent.act(s), np.zeros(2, np.float32), s, np.array([True, False]), np.array([False, False]), frame=2)
    assert agent.action_noise.x[0].tolist() == [0.0, 0.0] and (agent.action_noise.x[1] != 0).all()


def test_specs_reject_discrete_actions_and_unknown_keys():
    with pytest.raises(SpecError, match="continuous"):
        agent_of("TD3", BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=1))
    with pytest.raises(ValueError, match="policy_dela"):
        AgentSpec.model_validate({"algorithm": {"name": "TD3", "policy_delayy": 2}, "memory": {"name": "Replay"}})
    with pytest.raises(ValueError, match="memory PrioritizedReplay"):
        AgentSpec.model_validate({"algorithm": {"name": "DDPG"}, "memory": {"name": "PrioritizedReplay"}})


@pytest.mark.parametrize("name", ["TD3", "DDPG"])
def test_learns_a_one_step_continuous_task(name):
    """Reward -(a - target(s))^2 in one-step episodes, target = 0.5 s in [-1, 1]: the actor must
    follow the state; a random policy scores about -0.42, a constant 0 about -0.08."""
    torch.manual_seed(0)
    spaces = BodySpaces(obs_dim=1, action_dim=1, is_discrete=False, num_bodies=8,
                        action_low=np.array([-1.0], np.float32), action_high=np.array([1.0], np.float32))
    agent = agent_of(name, spaces, net={"hid_layers": [32, 32], "optim_spec": {"lr": 3e-3}, "polyak_coef": 0.05},
                     training_start_step=200, action_noise={"sigma": 0.3})
    agent.memory.batch_size = 64
    rng = np.random.default_rng(0)
    done = np.ones(8, bool)
    for t in range(300):
        s = rng.uniform(-1, 1, (8, 1)).astype(np.float32)
        a = agent.act(s)
        r = -((a - 0.5 * s) ** 2).sum(-1).astype(np.float32)
        agent.update(s, a, r, s, done, ~done, frame=8 * (t + 1))
    s = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    assert -((agent.act_greedy(s) - 0.5 * s) ** 2).mean() > -0.01
