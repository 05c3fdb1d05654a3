"""Prioritized replay: the sum-tree, priorities, importance-sampling weights, and PER with DQN."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.memory.prioritized import PrioritizedReplay, SumTree
from slm_lab.control.session import Session
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import AgentSpec, PrioritizedReplaySpec

# 99.9% quantile of chi-square with 3 degrees of freedom: a correct sampler fails 1 run in 1000
CHI2_3DOF_999 = 16.27


def draw_counts(tree: SumTree, n_batches: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    counts = np.zeros(tree.size, dtype=np.int64)
    for _ in range(n_batches):
        np.add.at(counts, tree.sample(batch, rng), 1)
    return counts


def chi_square(counts: np.ndarray, probs: np.ndarray) -> float:
    expected = counts.sum() * probs
    mask = probs > 0
    return float((((counts - expected) ** 2)[mask] / expected[mask]).sum())


def assert_sums_consistent(tree: SumTree) -> None:
    internal = np.arange(1, tree.capacity)
    np.testing.assert_allclose(tree.nodes[internal], tree.nodes[2 * internal] + tree.nodes[2 * internal + 1])


def test_sum_tree_samples_in_proportion_to_priorities():
    rng = np.random.default_rng(0)
    tree = SumTree(5)
    tree.set_leaves(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 0.0]))
    assert tree.total == pytest.approx(10.0)
    assert_sums_consistent(tree)
    # independent single draws (batch 1) so the chi-square assumptions hold
    counts = draw_counts(tree, 20000, 1, rng)
    assert counts[4] == 0, "a zero-priority leaf was sampled"
    probs = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    assert chi_square(counts, probs) < CHI2_3DOF_999, counts


def test_stratified_batches_cover_each_segment():
    rng = np.random.default_rng(1)
    tree = SumTree(4)
    tree.set_leaves(np.arange(4), np.array([1.0, 1.0, 1.0, 1.0]))
    # 4 strata over 4 equal leaves: every batch of 4 holds each leaf exactly once
    for _ in range(50):
        assert sorted(tree.sample(4, rng).tolist()) == [0, 1, 2, 3]


def test_leaf_update_changes_total_and_proportions():
    rng = np.random.default_rng(2)
    tree = SumTree(5)
    tree.set_leaves(np.arange(5), np.array([1.0, 2.0, 3.0, 4.0, 0.0]))
    tree.set_leaves(np.array([0, 4, 4]), np.array([6.0, 9.0, 5.0]))  # a repeated index keeps its last value
    assert tree.total == pytest.approx(6 + 2 + 3 + 4 + 5)
    assert_sums_consistent(tree)
    np.testing.assert_allclose(tree.leaves(np.arange(5)), [6, 2, 3, 4, 5])
    counts = draw_counts(tree, 200, 100, rng)
    probs = np.array([6, 2, 3, 4, 5]) / 20
    assert chi_square(counts, probs) < 18.47  # 99.9% quantile, 4 degrees of freedom


def test_large_tree_batched_find_matches_cumsum():
    rng = np.random.default_rng(3)
    size = 1000
    tree = SumTree(size)
    values = rng.random(size)
    values[rng.random(size) < 0.2] = 0.0
    tree.set_leaves(np.arange(size), values)
    mass = rng.random(500) * values.sum()
    expected = np.searchsorted(np.cumsum(values), mass, side="right")
    np.testing.assert_array_equal(tree.find(mass), expected)


def per(**kwargs) -> PrioritizedReplay:
    spec = PrioritizedReplaySpec(batch_size=8, max_size=16, **kwargs)
    return PrioritizedReplay(spec, np.random.default_rng(0), max_frame=100)


def add(memory: PrioritizedReplay, n: int) -> None:
    s = np.arange(n * 4, dtype=np.float32).reshape(n, 4)
    memory.add(s, np.zeros(n, np.int64), np.ones(n, np.float32), s, np.zeros(n, bool), np.zeros(n, bool))


def test_new_transitions_get_the_max_priority_and_updates_follow_the_formula():
    memory = per(alpha=0.5, epsilon=0.01)
    add(memory, 4)
    np.testing.assert_allclose(memory.tree.leaves(np.arange(4)), 1.0)
    memory.update_priorities(np.array([0, 1]), np.array([3.99, 0.0]))
    np.testing.assert_allclose(memory.tree.leaves(np.array([0, 1])), [(3.99 + 0.01) ** 0.5, 0.01 ** 0.5])
    assert memory.max_priority == pytest.approx(2.0)
    add(memory, 2)  # newcomers get the largest priority seen
    np.testing.assert_allclose(memory.tree.leaves(np.array([4, 5])), 2.0)


def test_importance_weights_formula_and_beta_annealing():
    memory = per(alpha=1.0, beta=0.4, beta_steps=40, epsilon=1e-6)
    add(memory, 4)
    memory.update_priorities(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]) - 1e-6)
    beta = memory.beta()
    assert beta == pytest.approx(0.4 + 0.6 * 4 / 40)
    idx = np.array([0, 3, 1])
    probs = np.array([1.0, 4.0, 2.0]) / 10.0
    w = (4 * probs) ** -beta
    np.testing.assert_allclose(memory.importance_weights(idx), w / w.max(), rtol=1e-5)
    batch = memory.sample()
    assert set(batch) >= {"states", "weights", "idx"} and batch["weights"].dtype == torch.float32
    assert float(batch["weights"].max()) == pytest.approx(1.0)
    add(memory, 40)
    assert memory.beta() == 1.0  # annealed to 1 and held there


def test_beta_anneals_over_the_run_when_beta_steps_is_unset():
    memory = per(beta=0.5)
    add(memory, 10)
    assert memory.beta() == pytest.approx(0.5 + 0.5 * 10 / 100)


def test_dqn_weights_its_loss_and_updates_priorities():
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "DoubleDQN", "training_start_step": 0},
        "memory": {"name": "PrioritizedReplay", "batch_size": 8, "max_size": 64, "alpha": 1.0, "beta": 1.0},
        "net": {"hid_layers": [8]},
    })
    agent = make_agent(spec, BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=4), max_frame=1000, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        s = rng.normal(size=(4, 4)).astype(np.float32)
        agent.memory.add(s, rng.integers(0, 2, 4), rng.normal(size=4).astype(np.float32), s, np.zeros(4, bool), np.zeros(4, bool))
    assert np.allclose(agent.memory.tree.leaves(np.arange(16)), 1.0)
    torch.manual_seed(0)
    agent.train()
    leaves = agent.memory.tree.leaves(np.arange(16))
    assert not np.allclose(leaves, 1.0), "priorities were not updated from TD errors"
    # every sampled slot's priority is now |TD error| + epsilon (alpha = 1), which is positive
    assert (leaves > 0).all()


def test_weighted_loss_equals_plain_loss_under_uniform_weights():
    """With equal priorities the weights are all 1: PER's loss is the plain mean loss."""
    base = {"algorithm": {"name": "DQN", "training_start_step": 0}, "net": {"hid_layers": [8]}}
    spaces = BodySpaces(obs_dim=4, action_dim=2, is_discrete=True, num_bodies=4)
    plain = make_agent(AgentSpec.model_validate({**base, "memory": {"name": "Replay", "batch_size": 8, "max_size": 8}}), spaces, 1000, 0)
    prio = make_agent(AgentSpec.model_validate({**base, "memory": {"name": "PrioritizedReplay", "batch_size": 8, "max_size": 8}}), spaces, 1000, 0)
    prio.net.load_state_dict(plain.net.state_dict())
    prio.target_net.load_state_dict(plain.target_net.state_dict())
    batch = {"states": torch.randn(8, 4), "actions": torch.randint(0, 2, (8,)), "rewards": torch.randn(8),
             "next_states": torch.randn(8, 4), "terminated": torch.zeros(8)}
    plain.memory.sample = lambda: dict(batch)
    prio.memory.sample = lambda: {**batch, "weights": torch.ones(8), "idx": torch.arange(8)}
    prio.memory.update_priorities = lambda idx, td: None
    torch.testing.assert_close(prio.train(), plain.train())


def per_cartpole_spec(max_frame: int) -> object:
    return validate({
        "name": "learn_ddqn_per",
        "agent": [{
            "algorithm": {"name": "DoubleDQN", "training_frequency": 4, "training_batch_iter": 2, "training_start_step": 500,
                          "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.05, "end_step": 5000}},
            "memory": {"name": "PrioritizedReplay", "batch_size": 64, "max_size": 20000, "alpha": 0.6, "beta": 0.4},
            "net": {"hid_layers": [64, 64], "optim_spec": {"name": "Adam", "lr": 0.001}, "update_type": "polyak", "polyak_coef": 0.01},
        }],
        "env": [{"name": "CartPole-v1", "num_envs": 1, "max_frame": max_frame}],
        "meta": {"max_session": 1, "log_frequency": 1000, "eval_frequency": 2000, "eval_episodes": 4, "seed": 1},
    })


def test_double_dqn_with_per_beats_random_quickly(tmp_path: Path):
    t0 = time.perf_counter()
    Session(per_cartpole_spec(12000), tmp_path).run()
    train = pd.read_csv(tmp_path / "train.csv")
    evals = pd.read_csv(tmp_path / "eval.csv")
    final_ma, best_eval = train["return_ma"].iloc[-1], evals["return"].max()
    print(f"ddqn+per: final return_ma {final_ma:.1f}, best eval {best_eval:.1f}, {time.perf_counter() - t0:.0f}s")
    assert final_ma > 3 * 22.0, f"training return_ma {final_ma:.1f} is not clearly above random (about 22)"
    assert best_eval > 150, f"best greedy evaluation {best_eval:.1f}"


def test_priorities_survive_a_memory_checkpoint_round_trip():
    from slm_lab.control.resume import memory_checkpointable

    memory = per(alpha=1.0)
    add(memory, 10)
    memory.update_priorities(np.arange(10), np.arange(10.0))
    assert memory_checkpointable(memory)
    state = memory.state_dict()
    restored = per(alpha=1.0)
    restored.load_state_dict(state)
    np.testing.assert_allclose(restored.tree.leaves(np.arange(16)), memory.tree.leaves(np.arange(16)))
    assert restored.tree.total == pytest.approx(memory.tree.total)
    assert restored.max_priority == memory.max_priority and restored.beta() == memory.beta()
    np.testing.assert_array_equal(restored.sample()["states"].shape, (8, 4))
