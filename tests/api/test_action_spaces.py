"""MultiDiscrete and MultiBinary actions through the real path: `slm_lab.train` learns them with
the policy-gradient algorithms, `load_policy` plays them, and `slm-lab check` / `run` refuse
the algorithms that cannot act in them (exit 2, one line, nothing written)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import slm_lab
from action_space_envs import EPISODE, BitMatchEnv, CueMatchEnv
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_file
from spec_helpers import tiny_spec, write_spec_file
from test_cli import assert_bad_input, cli

HERE = Path(__file__).resolve().parent
CUE, BITS = "action_space_envs:CueMatchEnv", "action_space_envs:BitMatchEnv"
ALGORITHMS = {
    "PPO": ({"name": "PPO", "training_frequency": 32, "minibatch_size": 64, "training_epoch": 4}, "OnPolicyBatchReplay"),
    "A2C": ({"name": "A2C", "training_frequency": 16}, "OnPolicyBatchReplay"),
    "REINFORCE": ({"name": "REINFORCE", "training_frequency": 4}, "OnPolicyReplay"),
}


def pg_spec(algo: str, env: str, max_frame: int, lr: float = 3e-3) -> dict:
    algorithm, memory = ALGORITHMS[algo]
    # each step is its own bandit problem: a short horizon, a little entropy to keep exploring
    algorithm = {**algorithm, "gamma": 0.5, "entropy_coef_spec": {"start_val": 0.01}}
    return tiny_spec(algorithm, {"name": memory}, {"hid_layers": [32], "optim_spec": {"name": "Adam", "lr": lr}},
                     env={"name": env, "num_envs": 4, "max_frame": max_frame},
                     meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 4})


def assert_learned(result, random_return: float) -> None:
    """>= 90% of the maximum return, where a random policy scores `random_return`."""
    assert result.metrics["num_failed_sessions"] == 0
    returns = result.sessions[0].eval["return"]
    assert returns.iloc[0] < 0.9 * EPISODE and random_return < 0.6 * EPISODE  # there was something to learn
    assert returns.iloc[-1] >= 0.9 * EPISODE, returns.tolist()


def test_random_actions_score_what_the_envs_promise():
    from slm_lab.analysis.baseline import measure_random_baseline

    cue = measure_random_baseline(CUE, None, None, 200, 0)["return"]
    bits = measure_random_baseline(BITS, None, None, 200, 0)["return"]
    assert cue == pytest.approx(EPISODE * np.mean([1 / 3, 1 / 4, 1 / 5]), abs=0.3)
    assert bits == pytest.approx(EPISODE * 0.5, abs=0.3)


def test_ppo_learns_multidiscrete_actions_and_the_loaded_policy_plays_them():
    result = slm_lab.train(pg_spec("PPO", CUE, 4000), "ppo_cue")
    assert_learned(result, EPISODE * np.mean([1 / 3, 1 / 4, 1 / 5]))
    policy = slm_lab.load_policy(result.sessions[0].dir)
    env = CueMatchEnv()
    obs, _ = env.reset(seed=123)
    single = policy.act(obs)
    assert single.shape == (3,) and policy.action_space.contains(single)
    cues, batch = [], []
    for _ in range(200):
        batch.append(env._draw())
        cues.append(env.cue)
    actions = policy.act(np.stack(batch))
    assert actions.shape == (200, 3) and (actions == np.stack(cues)).mean() >= 0.9


def test_ppo_learns_multibinary_actions():
    assert_learned(slm_lab.train(pg_spec("PPO", BITS, 3000), "ppo_bits"), EPISODE * 0.5)


def test_a2c_learns_multibinary_actions():
    assert_learned(slm_lab.train(pg_spec("A2C", BITS, 4000, lr=0.02), "a2c_bits"), EPISODE * 0.5)


@pytest.mark.slow
def test_reinforce_learns_multidiscrete_actions():
    assert_learned(slm_lab.train(pg_spec("REINFORCE", CUE, 4000, lr=0.02), "reinforce_cue"),
                   EPISODE * np.mean([1 / 3, 1 / 4, 1 / 5]))


def value_spec(algo: str, env: str) -> dict:
    memory = "OnPolicyBatchReplay" if algo == "SARSA" else "Replay"
    return tiny_spec({"name": algo}, {"name": memory}, env={"name": env, "num_envs": 1, "max_frame": 1000})


@pytest.mark.parametrize("algo", ["DQN", "DoubleDQN", "SARSA", "SAC", "CrossQ", "TD3", "DDPG"])
@pytest.mark.parametrize("env,shown", [(CUE, "MultiDiscrete([3, 4, 5])"), (BITS, "MultiBinary(6)")])
def test_check_refuses_algorithms_that_cannot_act_in_factorized_spaces(algo, env, shown, tmp_path: Path):
    path = write_spec_file(tmp_path / "s.json", {"s": value_spec(algo, env)})
    with pytest.raises(SpecError) as err:
        check_file(path)
    msg = str(err.value)
    assert f"algorithm {algo} needs " in msg and f"has {shown} actions" in msg and "use REINFORCE, A2C, PPO" in msg


def test_check_takes_policy_gradient_specs_and_refuses_a_2d_multidiscrete(tmp_path: Path):
    specs = {f"{algo.lower()}_{n}": pg_spec(algo, env, 1000) for algo in ALGORITHMS for n, env in (("cue", CUE), ("bits", BITS))}
    assert sorted(check_file(write_spec_file(tmp_path / "ok.json", specs))) == sorted(specs)
    grid = write_spec_file(tmp_path / "grid.json", {"s": pg_spec("PPO", "action_space_envs:MultiDiscreteGrid", 1000)})
    with pytest.raises(SpecError) as err:
        check_file(grid)
    assert "action space MultiDiscrete([[2 2] [2 2]]) is not supported (Discrete, a flat Box" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.fixture
def importable_envs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs in a subprocess: it must import action_space_envs too."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))


@pytest.mark.parametrize("command", ["check", "run"])
def test_the_cli_refuses_dqn_on_multidiscrete_with_one_line_and_exit_2(command, tmp_path: Path, isolated_dirs: Path,
                                                                       importable_envs: None):
    path = write_spec_file(tmp_path / "dqn.json", {"dqn_cue": value_spec("DQN", CUE)})
    args = ("check", str(path)) if command == "check" else ("run", str(path), "dqn_cue", "dev")
    assert_bad_input(cli(*args), "algorithm DQN needs discrete actions, but env 'action_space_envs:CueMatchEnv' has "
                                 "MultiDiscrete([3, 4, 5]) actions; use REINFORCE, A2C, PPO", isolated_dirs)


def test_the_cli_checks_a_ppo_spec_on_multibinary(tmp_path: Path, importable_envs: None):
    result = cli("check", str(write_spec_file(tmp_path / "ppo.json", {"ppo_bits": pg_spec("PPO", BITS, 1000)})))
    assert result.returncode == 0, result.stderr
    assert "ppo_bits" in result.stdout + result.stderr


def test_action_masks_still_need_a_discrete_space(tmp_path: Path):
    spec = pg_spec("PPO", CUE, 1000)
    spec["env"][0]["action_mask"] = "info"
    with pytest.raises(SpecError, match=r"action masks need a Discrete action space, not MultiDiscrete\(\[3 4 5\]\)"):
        check_file(write_spec_file(tmp_path / "masked.json", {"s": spec}))
