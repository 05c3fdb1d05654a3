"""Named training statistics: what each algorithm's train() reports reaches train.csv and TensorBoard."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from slm_lab.agent.algorithm import ALGORITHMS
from slm_lab.agent.algorithm.base import ValueBased
from slm_lab.agent.algorithm.returns import explained_variance
from slm_lab.control.recorder import COLUMNS
from slm_lab.control.session import Session
from slm_lab.spec.loader import load_spec

# (shipped spec file, name, the statistics its algorithm must report, frames)
CASES = [
    ("benchmark/ppo/ppo_cartpole.json", "ppo_cartpole",
     ["loss", "entropy", "policy_loss", "value_loss", "explained_variance", "approx_kl", "clip_fraction"], 2048),
    ("benchmark/a2c/a2c_cartpole.json", "a2c_gae_cartpole", ["loss", "entropy", "policy_loss", "value_loss", "explained_variance"], 2048),
    ("benchmark/reinforce/reinforce_cartpole.json", "reinforce_cartpole", ["loss", "entropy"], 2048),
    ("benchmark/dqn/dqn_cartpole.json", "dqn_cartpole", ["loss", "q_mean"], 3000),
    ("benchmark/sac/sac_pendulum.json", "sac_pendulum", ["loss", "entropy", "critic_loss", "actor_loss", "alpha_loss", "alpha"], 1500),
]


def short(spec_file: str, name: str, frames: int):
    return load_spec(spec_file, name, overrides=[
        f"env.0.max_frame={frames}", "meta.max_session=1", f"meta.log_frequency={frames // 2}",
        f"meta.eval_frequency={frames}", "meta.eval_episodes=1", "meta.tensorboard=true",
    ] + (["agent.0.algorithm.training_start_step=500"] if "sac" in name or "dqn" in name else []))


@pytest.mark.parametrize("spec_file,name,stats,frames", CASES, ids=[c[1] for c in CASES])
def test_each_algorithm_reports_its_statistics_in_train_csv_and_tensorboard(tmp_path: Path, spec_file, name, stats, frames):
    spec = short(spec_file, name, frames)
    Session(spec, tmp_path, trial=0, session=0).run()
    train = pd.read_csv(tmp_path / "train.csv")
    assert list(train.columns[: len(COLUMNS)]) == COLUMNS  # the common columns first, in their order
    last = train.iloc[-1]
    for stat in stats:
        assert stat in train.columns, stat
        assert math.isfinite(last[stat]), f"{stat} is {last[stat]} after training"
    if "clip_fraction" in stats:
        assert 0.0 <= last["clip_fraction"] <= 1.0 and last["approx_kl"] >= 0.0
    if "alpha" in stats:
        assert last["alpha"] > 0.0
    # each algorithm's schedule under its own name; explore_var stays empty where there is no explore_var_spec
    schedules = {"dqn_cartpole": "explore_var", "ppo_cartpole": "entropy_coef", "a2c_gae_cartpole": "entropy_coef",
                 "reinforce_cartpole": "entropy_coef"}
    if name in schedules:
        assert math.isfinite(last[schedules[name]])
    if schedules.get(name) != "explore_var":
        assert train["explore_var"].isna().all()
    if name == "ppo_cartpole":
        assert last["entropy_coef"] == spec.agent[0].algorithm.entropy_coef_spec.start_val  # its schedule is constant

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert {f"train/{s}" for s in stats} <= set(events.Tags()["scalars"])


def test_a_statistic_is_declared_in_one_place():
    """Every algorithm's columns come from its STATS; an undeclared name is an error, not a lost column."""
    for cls in ALGORITHMS.values():
        names = cls.stat_names()
        assert names[:2] == ["loss", "entropy"] and names[-1] == "lr"
        assert names[-1 - len(cls.SCHEDULES):-1] == list(cls.SCHEDULES)
        # explore_var means explore_var_spec's value, and only that: logged by the value-based family alone
        assert ("explore_var" in names) == issubclass(cls, ValueBased), cls
        assert len(names) == len(set(names)), cls


def test_an_undeclared_statistic_is_refused(tmp_path: Path):
    spec = short("benchmark/dqn/dqn_cartpole.json", "dqn_cartpole", 1000)
    session = Session(spec, tmp_path, trial=0, session=0)
    session._build()
    agent = session.agent
    agent._pending_stats = {"loss": [torch.tensor(1.0)], "mystery": [torch.tensor(2.0)]}
    with pytest.raises(ValueError, match="mystery"):
        agent.drain_stats()
    session.env_space.close()
    for env in session.eval_envs:
        env.close()


def test_explained_variance_against_hand_computed_values():
    targets = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(targets.clone(), targets).item() == pytest.approx(1.0)
    assert explained_variance(torch.full((4,), targets.mean().item()), targets).item() == pytest.approx(0.0)
    values = torch.tensor([1.5, 1.5, 3.5, 3.5])  # residuals +-0.5: var 1/3 against var(targets) 5/3
    assert explained_variance(values, targets).item() == pytest.approx(1 - (1 / 3) / (5 / 3))
