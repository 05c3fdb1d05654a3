"""CrossQ: one train-mode critic forward over concat(batch, next batch) with no target nets, the
renorm statistics over both halves, the delayed actor, and short learning runs on one-step tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.net.batch_renorm import BatchRenorm1d
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec

BOX = BodySpaces(obs_dim=3, action_dim=2, is_discrete=False, num_bodies=2,
                 action_low=np.array([0.0, -1.0], np.float32), action_high=np.array([2.0, 3.0], np.float32))
DISCRETE = BodySpaces(obs_dim=3, action_dim=4, is_discrete=True, num_bodies=2)


def crossq(spaces: BodySpaces, **algorithm) -> object:
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "CrossQ", "training_start_step": 0, "critic_hid_layers": [32, 32], **algorithm},
        "memory": {"name": "Replay", "batch_size": 4, "max_size": 100},
        "net": {"hid_layers": [16], "optim_spec": {"name": "Adam", "lr": 1e-3, "betas": [0.5, 0.999]}},
    })
    return make_agent(spec, spaces, max_frame=1000, seed=0)


def fill(agent, steps: int = 4) -> None:
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, 3)).astype(np.float32)
        agent.update(s, agent.act(s), rng.normal(size=2).astype(np.float32), s + 1,
                     np.array([t == 1, False]), np.array([False, False]), frame=2 * (t + 1))


def test_defaults_are_the_papers_and_there_are_no_target_nets():
    agent = crossq(BOX, critic_hid_layers=[2048, 2048])
    a = agent.algo_spec
    assert (a.policy_delay, a.renorm_momentum, a.renorm_r_max, a.renorm_d_max) == (3, 0.01, 3.0, 5.0)
    assert agent.optims["critics"].param_groups[0]["betas"] == (0.5, 0.999)
    assert not hasattr(agent, "target_critics") and set(agent.nets) == {"policy", "critics", "log_alpha"}
    assert agent.critics[0].layers[1].out_features == 2048
    assert sum(isinstance(m, BatchRenorm1d) for m in agent.critics.modules()) == 2 * 3


@pytest.mark.parametrize("spaces", [BOX, DISCRETE], ids=["continuous", "discrete"])
def test_one_critic_forward_over_the_batch_and_the_next_batch(spaces):
    agent = crossq(spaces)
    fill(agent)
    batch = agent.memory.sample()
    seen: list[torch.Tensor] = []
    hooks = [q.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone())) for q in agent.critics]
    brn = agent.critics[0].layers[0]
    mean_before = brn.running_mean.clone()
    agent.critic_loss(batch, torch.tensor(0.2))
    for h in hooks:
        h.remove()
    assert len(seen) == 2  # one forward per critic, not one per half
    n = len(batch["states"])
    for x in seen:
        assert x.shape[0] == 2 * n
        torch.testing.assert_close(x[:n, :3], batch["states"])
        torch.testing.assert_close(x[n:, :3], batch["next_states"])
    if not spaces.is_discrete:  # first half: the stored actions in [-1, 1] units; second: a' ~ pi(s')
        unit = (batch["actions"] - torch.tensor([1.0, 1.0])) / torch.tensor([1.0, 2.0])
        torch.testing.assert_close(seen[0][:n, 3:], unit)
        assert seen[0][n:, 3:].abs().max() <= 1.0
    # the input renorm's running mean moved toward the mean of both halves together
    torch.testing.assert_close(brn.running_mean, mean_before.lerp(seen[0].mean(0), 0.01))


def test_actor_and_alpha_step_every_policy_delay_critic_steps_with_critics_in_eval():
    agent = crossq(BOX, policy_delay=3)
    fill(agent)
    step = lambda name: int(next(iter(agent.optims[name].state.values()))["step"])
    c0, p0, a0 = step("critics"), step("policy"), step("alpha")
    agent.opt_step = 0
    modes: list[bool] = []
    hook = agent.critics[0].register_forward_hook(lambda m, i, o: modes.append(m.training))
    for _ in range(6):
        stats = agent.train_step(agent.memory.sample())
        agent.opt_step += 1
    hook.remove()
    assert (step("critics") - c0, step("policy") - p0, step("alpha") - a0) == (6, 2, 2)
    assert modes.count(False) == 2 and modes.count(True) == 6  # the actor reads Q in eval mode
    assert set(stats) == {"loss", "critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy"}
    assert agent.critics.training  # left in train mode for the next critic step


def test_discrete_crossq_learns_a_contextual_bandit():
    """One-step episodes: the rewarded action is the index of the largest of the 3 state features
    (reward 1, else 0); a random policy is right a third of the time."""
    torch.manual_seed(0)
    spaces = BodySpaces(obs_dim=3, action_dim=3, is_discrete=True, num_bodies=8)
    agent = crossq(spaces, policy_delay=1, init_alpha=0.05, target_entropy=0.1, renorm_warmup_steps=50)
    agent.memory.batch_size = 64
    rng = np.random.default_rng(0)
    done = np.ones(8, bool)
    for t in range(250):
        s = rng.normal(size=(8, 3)).astype(np.float32)
        a = agent.act(s)
        agent.update(s, a, (a == s.argmax(-1)).astype(np.float32), s, done, ~done, frame=8 * (t + 1))
    s = rng.normal(size=(500, 3)).astype(np.float32)
    assert (agent.act_greedy(s) == s.argmax(-1)).mean() > 0.9


def test_continuous_crossq_learns_a_one_step_task():
    """Reward -(a - 0.5 s)^2, one-step episodes; a constant 0 action scores about -0.08."""
    torch.manual_seed(0)
    spaces = BodySpaces(obs_dim=1, action_dim=1, is_discrete=False, num_bodies=8,
                        action_low=np.array([-1.0], np.float32), action_high=np.array([1.0], np.float32))
    agent = crossq(spaces, policy_delay=1, init_alpha=0.01, renorm_warmup_steps=50)
    agent.memory.batch_size = 64
    rng = np.random.default_rng(0)
    done = np.ones(8, bool)
    for t in range(300):
        s = rng.uniform(-1, 1, (8, 1)).astype(np.float32)
        a = agent.act(s)
        agent.update(s, a, -((a - 0.5 * s) ** 2).sum(-1).astype(np.float32), s, done, ~done, frame=8 * (t + 1))
    s = np.linspace(-1, 1, 50, dtype=np.float32)[:, None]
    assert -((agent.act_greedy(s) - 0.5 * s) ** 2).mean() > -0.01
