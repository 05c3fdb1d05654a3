"""PPO: the clipped surrogate and clipped value loss on hand examples, the epoch/minibatch loop,
Gaussian actions, and a short CartPole run that must clearly learn."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm.ppo import clipped_surrogate, clipped_value_loss
from slm_lab.control.session import Session
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import AgentSpec

CARTPOLE = BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=2)
PENDULUM = BodySpaces(obs_dim=3, action_dim=1, is_discrete=False, num_bodies=2,
                      action_low=np.array([-2.0], np.float32), action_high=np.array([2.0], np.float32))


def ppo(spaces: BodySpaces = CARTPOLE, **algorithm) -> object:
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "PPO", "training_frequency": 4, "training_epoch": 3, "minibatch_size": 3, **algorithm},
        "memory": {"name": "OnPolicyBatchReplay"},
        "net": {"hid_layers": [8]},
    })
    return make_agent(spec, spaces, max_frame=1000, seed=0)


def rollout(agent, spaces: BodySpaces, steps: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for t in range(steps):
        s = rng.normal(size=(2, spaces.obs_dim)).astype(np.float32)
        a = agent.act(s)
        done = np.array([t == 2, False])
        agent.update(s, a, rng.normal(size=2).astype(np.float32), s, done, np.array([False, t == 1]), frame=2 * (t + 1))


def test_clipped_surrogate_matches_a_hand_computation():
    ratio = torch.tensor([1.5, 0.5, 1.1, 0.7])
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    old = torch.zeros(4)
    log_prob = ratio.log().requires_grad_(True)
    loss = clipped_surrogate(log_prob, old, adv, clip_eps=0.2)
    # min(rA, clip(r)A): 1.2 (clipped), 0.5, -1.1, -0.8 (clipped); loss = -mean
    assert math.isclose(loss.item(), -(1.2 + 0.5 - 1.1 - 0.8) / 4, rel_tol=1e-6)
    loss.backward()
    # clipped terms give no gradient; the others d/dlogp (-r A / 4) = -r A / 4
    torch.testing.assert_close(log_prob.grad, torch.tensor([0.0, -0.5 / 4, 1.1 / 4, 0.0]))


def test_clipped_value_loss_takes_the_larger_error():
    values = torch.tensor([2.0, 0.0])
    old = torch.tensor([1.0, 1.0])
    targets = torch.tensor([3.0, 1.05])
    # clip(V - V_old, +-0.5): 1.5 and 0.5. errors: max(1, 2.25) = 2.25 and max(1.1025, 0.3025) = 1.1025
    loss = clipped_value_loss(values, old, targets, clip_eps=0.5)
    assert math.isclose(loss.item(), (2.25 + 1.1025) / 2, rel_tol=1e-6)


def test_train_runs_epochs_of_minibatches_and_scores_the_rollout_once():
    agent = ppo()
    calls = {"n": 0}
    score = agent.score_rollout

    def counting(batch):
        calls["n"] += 1
        return score(batch)

    agent.score_rollout = counting
    before = [p.detach().clone() for p in agent.net.parameters()]
    rollout(agent, CARTPOLE, steps=4)  # 4 steps x 2 bodies = 8 samples: minibatches of 3, 3, 2
    assert calls["n"] == 1
    assert agent.opt_step == 3 * 3
    assert any(not torch.equal(b, p) for b, p in zip(before, agent.net.parameters()))


def test_old_log_probs_match_the_policy_before_the_update():
    agent = ppo()
    rng = np.random.default_rng(0)
    batch = {
        "states": torch.from_numpy(rng.normal(size=(4, 2, 4)).astype(np.float32)),
        "actions": torch.from_numpy(rng.integers(0, 2, (4, 2))),
        "rewards": torch.ones(4, 2), "next_states": torch.from_numpy(rng.normal(size=(4, 2, 4)).astype(np.float32)),
        "terminated": torch.zeros(4, 2), "truncated": torch.zeros(4, 2),
    }
    data = agent.score_rollout(batch)
    logits = agent.net(batch["states"].flatten(0, 1))
    expected = torch.log_softmax(logits, -1).gather(-1, batch["actions"].flatten().unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(data["old_log_prob"], expected)
    assert data["adv"].shape == data["targets"].shape == (8,)
    torch.testing.assert_close(data["targets"], data["adv"] + data["old_values"])


def test_clip_range_follows_its_schedule():
    agent = ppo(clip_eps_spec={"name": "linear_decay", "start_val": 0.2, "end_val": 0.0, "end_step": 1000})
    assert math.isclose(agent.clip_eps.value(0), 0.2)
    assert math.isclose(agent.clip_eps.value(500), 0.1)
    assert agent.clip_eps.value(1000) == 0.0


def test_gaussian_ppo_trains_the_log_std():
    agent = ppo(PENDULUM)
    log_std = agent.net.log_std.detach().clone()
    rollout(agent, PENDULUM, steps=4)
    assert agent.opt_step > 0
    assert not torch.equal(agent.net.log_std.detach(), log_std)
    actions = agent.act(np.zeros((2, 3), np.float32))
    assert actions.shape == (2, 1) and actions.dtype == np.float32


def test_shared_net_steps_one_optimizer():
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "PPO", "training_frequency": 4, "training_epoch": 2, "minibatch_size": 8, "clip_vloss": True},
        "memory": {"name": "OnPolicyBatchReplay"},
        "net": {"hid_layers": [8], "shared": True},
    })
    agent = make_agent(spec, CARTPOLE, max_frame=1000, seed=0)
    assert set(agent.optims) == {"net"}
    rollout(agent, CARTPOLE, steps=4)
    assert agent.opt_step == 2
    assert math.isfinite(agent.drain_stats()["loss"])


@pytest.mark.parametrize("value_norm", [False, True])
def test_cartpole_learns_quickly(tmp_path: Path, value_norm: bool):
    """SB3-zoo-like settings on a shorter budget: the training return clearly beats random (about 22),
    with and without value normalization (tests/agent/test_value_norm.py)."""
    max_frame = 40_000
    spec = validate({
        "name": "ppo_fast",
        "agent": [{
            "algorithm": {"name": "PPO", "gamma": 0.98, "lam": 0.8, "training_frequency": 32, "training_epoch": 20,
                          "minibatch_size": 256, "value_norm": value_norm,
                          "clip_eps_spec": {"name": "linear_decay", "start_val": 0.2, "end_val": 0.0, "end_step": max_frame}},
            "memory": {"name": "OnPolicyBatchReplay"},
            "net": {"hid_layers": [64, 64], "hid_layers_activation": "tanh", "clip_grad_val": 0.5,
                    "optim_spec": {"name": "Adam", "lr": 0.001}, "lr_scheduler_spec": {"name": "linear"}},
        }],
        "env": [{"name": "CartPole-v1", "num_envs": 8, "max_frame": max_frame}],
        "meta": {"max_session": 1, "log_frequency": 2000, "eval_frequency": 10000, "eval_episodes": 4, "seed": 1},
    })
    t0 = time.perf_counter()
    Session(spec, tmp_path).run()
    train = pd.read_csv(tmp_path / "train.csv")
    final_ma = train["return_ma"].iloc[-1]
    print(f"ppo cartpole: final return_ma {final_ma:.1f} in {time.perf_counter() - t0:.0f}s")
    assert final_ma > 150, f"training return_ma {final_ma:.1f}"
