"""SAC: the soft critic target and temperature loss on hand examples, the tanh-squash log-prob
against torch.distributions, action scaling, target-critic updates, and a short Pendulum run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm.sac import soft_q_target, temperature_loss
from slm_lab.agent.policy import tanh_gaussian_sample
from slm_lab.control.session import Session
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import load_spec, validate
from slm_lab.spec.schema import AgentSpec

BOX = BodySpaces(obs_dim=3, action_dim=2, is_discrete=False, num_bodies=2,
                 action_low=np.array([0.0, -1.0], np.float32), action_high=np.array([2.0, 3.0], np.float32))
DISCRETE = BodySpaces(obs_dim=4, action_dim=3, is_discrete=True, num_bodies=2)


def sac(spaces: BodySpaces, **algorithm) -> object:
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "SAC", "training_start_step": 0, **algorithm},
        "memory": {"name": "Replay", "batch_size": 4, "max_size": 100},
        "net": {"hid_layers": [16], "update_type": "polyak", "polyak_coef": 0.1},
    })
    return make_agent(spec, spaces, max_frame=1000, seed=0)


def fill(agent, spaces: BodySpaces, steps: int = 4) -> None:
    rng = np.random.default_rng(0)
    for t in range(steps):
        s = rng.normal(size=(2, spaces.obs_dim)).astype(np.float32)
        agent.update(s, agent.act(s), rng.normal(size=2).astype(np.float32), s,
                     np.array([t == 1, False]), np.array([False, False]), frame=2 * (t + 1))


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_soft_q_target_continuous_by_hand():
    rewards, terminated = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0])
    next_q = torch.tensor([[3.0, 5.0], [4.0, 1.0]])  # [critic, sample]: the min is 3 and 1
    next_log_prob = torch.tensor([-1.0, 0.5])
    y = soft_q_target(rewards, terminated, next_q, next_log_prob, torch.tensor(0.2), gamma=0.9)
    # 1 + 0.9 * (3 - 0.2 * -1) = 3.88; the second step terminated: just its reward
    torch.testing.assert_close(y, torch.tensor([3.88, 2.0]))


def test_soft_q_target_discrete_takes_the_exact_expectation():
    next_q = torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]]])  # [critic, sample, action]: min over critics = [1, 2]
    probs = torch.tensor([[0.25, 0.75]])
    y = soft_q_target(torch.tensor([0.5]), torch.tensor([0.0]), next_q, probs.log(), torch.tensor(0.5), gamma=0.9)
    soft_v = 0.25 * (1.0 - 0.5 * math.log(0.25)) + 0.75 * (2.0 - 0.5 * math.log(0.75))
    assert math.isclose(y.item(), 0.5 + 0.9 * soft_v, rel_tol=1e-6)


def test_temperature_falls_when_entropy_is_above_target_and_rises_below():
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    loss = temperature_loss(log_alpha, torch.tensor([1.0, 3.0]), target_entropy=1.5)
    assert math.isclose(loss.item(), math.log(0.5) * 0.5, rel_tol=1e-6)  # log alpha * mean(H - target)
    loss.backward()
    assert math.isclose(log_alpha.grad.item(), 0.5, rel_tol=1e-6)  # positive: gradient descent lowers alpha
    log_alpha.grad = None
    temperature_loss(log_alpha, torch.tensor([0.2]), target_entropy=1.5).backward()
    assert log_alpha.grad.item() < 0


def test_tanh_squash_log_prob_matches_torch_distributions():
    mean, log_std = torch.randn(64, 2) * 0.8, torch.randn(64, 2) * 0.3 - 0.5
    torch.manual_seed(3)
    action, log_prob = tanh_gaussian_sample(mean, log_std)
    torch.manual_seed(3)
    u = mean + log_std.exp() * torch.randn_like(mean)  # the same pre-squash sample
    base = torch.distributions.Normal(mean, log_std.exp())
    tanh = torch.distributions.transforms.TanhTransform()
    expected = (base.log_prob(u) - tanh.log_abs_det_jacobian(u, torch.tanh(u))).sum(-1)
    torch.testing.assert_close(action, torch.tanh(u))
    torch.testing.assert_close(log_prob, expected, rtol=1e-5, atol=1e-5)
    squashed = torch.distributions.TransformedDistribution(base, [tanh])
    torch.testing.assert_close(log_prob, squashed.log_prob(action).sum(-1), rtol=1e-3, atol=1e-3)


def test_actions_are_scaled_into_the_box_bounds():
    agent = sac(BOX)
    with torch.no_grad():  # push the policy's means far out: tanh saturates at the bounds
        agent.policy.head.bias.copy_(torch.tensor([50.0, -50.0, 0.0, 0.0]))
    states = np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32)
    actions = agent.act(states)
    assert actions.shape == (256, 2) and actions.dtype == np.float32
    assert (actions >= BOX.action_low).all() and (actions <= BOX.action_high).all()
    np.testing.assert_allclose(agent.act_greedy(states[:4]), np.tile([2.0, -1.0], (4, 1)), atol=1e-4)


def test_warmup_actions_are_uniform_in_the_bounds():
    agent = sac(BOX, training_start_step=100)
    actions = agent.act(np.zeros((2000, 3), np.float32))
    assert (actions >= BOX.action_low).all() and (actions <= BOX.action_high).all()
    np.testing.assert_allclose(actions.mean(0), [1.0, 1.0], atol=0.1)


def test_continuous_train_step_moves_every_part_and_polyak_averages_the_targets():
    agent = sac(BOX)
    critics0, targets0, policy0 = flat(agent.critics), flat(agent.target_critics), flat(agent.policy)
    alpha0 = agent.log_alpha.alpha().item()
    fill(agent, BOX)
    assert agent.opt_step == 3  # 2 bodies a step: the batch of 4 is first there at the second step
    assert not torch.equal(flat(agent.policy), policy0)
    assert agent.log_alpha.alpha().item() != alpha0
    # one more step checked exactly: target <- 0.9 target + 0.1 critics
    targets_before = flat(agent.target_critics)
    agent.train()
    torch.testing.assert_close(flat(agent.target_critics), 0.9 * targets_before + 0.1 * flat(agent.critics))
    assert not torch.equal(flat(agent.critics), critics0) and not torch.equal(flat(agent.target_critics), targets0)
    assert agent.target_entropy == -2.0


def test_policy_step_adds_no_gradients_to_the_critics():
    agent = sac(BOX)
    fill(agent, BOX, steps=2)
    snapshot, critic_step = {}, agent.optims["critics"].step

    def step(*args, **kwargs):
        snapshot["grads"] = [p.grad.clone() for p in agent.critics.parameters()]
        return critic_step(*args, **kwargs)

    agent.optims["critics"].step = step
    agent.train()
    # the policy's backward ran after the critic step: the critics' grads are still the critic loss's own
    for p, g in zip(agent.critics.parameters(), snapshot["grads"]):
        assert torch.equal(p.grad, g)
    assert all(p.requires_grad for p in agent.critics.parameters())


def test_discrete_sac_trains_with_the_default_target_entropy():
    agent = sac(DISCRETE)
    assert math.isclose(agent.target_entropy, 0.98 * math.log(3))
    fill(agent, DISCRETE)
    assert agent.opt_step == 3
    assert math.isfinite(agent.drain_stats()["loss"])
    actions = agent.act(np.zeros((5, 4), np.float32))
    assert actions.shape == (5,) and set(actions.tolist()) <= {0, 1, 2}
    fixed = sac(DISCRETE, auto_entropy=False, init_alpha=0.3, target_entropy=0.5)
    fill(fixed, DISCRETE)
    assert "alpha" not in fixed.optims and math.isclose(fixed.log_alpha.alpha().item(), 0.3, rel_tol=1e-6)


def test_checkpoint_round_trip_keeps_the_temperature():
    agent = sac(BOX)
    fill(agent, BOX)
    fresh = sac(BOX)
    fresh.load_state_dict(agent.state_dict())
    assert fresh.log_alpha.alpha().item() == agent.log_alpha.alpha().item()
    assert torch.equal(flat(fresh.target_critics), flat(agent.target_critics))


def test_sac_needs_a_replay_memory():
    raw = {"name": "s", "agent": [{"algorithm": {"name": "SAC"}, "memory": {"name": "OnPolicyBatchReplay"}}],
           "env": [{"name": "Pendulum-v1"}]}
    with pytest.raises(SpecError) as err:
        validate(raw)
    assert str(err.value) == "s: agent[0]: memory OnPolicyBatchReplay does not fit algorithm SAC (use one of: Replay)"


def test_pendulum_learns_quickly(tmp_path: Path):
    """Random Pendulum scores about -1234; a short run with small nets must clearly beat it."""
    spec = validate({
        "name": "sac_fast",
        "agent": [{
            "algorithm": {"name": "SAC", "training_start_step": 200},
            "memory": {"name": "Replay", "batch_size": 128, "max_size": 20000},
            "net": {"hid_layers": [64, 64], "optim_spec": {"name": "Adam", "lr": 0.002},
                    "update_type": "polyak", "polyak_coef": 0.01},
        }],
        "env": [{"name": "Pendulum-v1", "num_envs": 1, "max_frame": 5000}],
        "meta": {"max_session": 1, "log_frequency": 1000, "eval_frequency": 2500, "eval_episodes": 4, "seed": 1},
    })
    t0 = time.perf_counter()
    Session(spec, tmp_path).run()
    evals = pd.read_csv(tmp_path / "eval.csv")
    final = evals["return"].iloc[-1]
    print(f"sac pendulum: final eval {final:.1f} in {time.perf_counter() - t0:.0f}s")
    assert final > -600, f"final greedy evaluation {final:.1f}"


@pytest.mark.slow
def test_discrete_sac_learns_cartpole(tmp_path: Path):
    """The shipped discrete spec on 40% of its budget (a few minutes): clearly above random (about 22)."""
    spec = load_spec("benchmark/sac/sac_cartpole.json", "sac_cartpole",
                     ["env.0.max_frame=40000", "meta.max_session=1", "meta.eval_frequency=5000"])
    Session(spec, tmp_path).run()
    train, evals = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(tmp_path / "eval.csv")
    print(f"discrete sac cartpole: final return_ma {train['return_ma'].iloc[-1]:.1f}, best eval {evals['return'].max():.1f}")
    assert train["return_ma"].iloc[-1] > 100
    assert evals["return"].max() > 200
