"""The random-policy baseline: measured deterministically, cached, shipped values read first."""

from __future__ import annotations

import json

import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from slm_lab.analysis import baseline
from slm_lab.analysis.baseline import cache_key, random_baseline
from slm_lab.spec.schema import EnvSpec

SHIPPED_ENVS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "LunarLander-v3",
                "LunarLanderContinuous-v3", "HalfCheetah-v5"]


def test_measures_once_then_reads_the_cache(_isolated_cache, monkeypatch):
    env = EnvSpec(name="CartPole-v1", max_t=50)
    value = random_baseline(env, episodes=5)
    assert 8.0 < value <= 50.0  # a random CartPole episode lasts ~10-40 steps, capped at max_t
    cache_file = _isolated_cache / "random_baselines.json"
    stored = json.loads(cache_file.read_text())
    key = cache_key("CartPole-v1", {}, 50, episodes=5)
    assert stored[key]["return"] == value and stored[key]["episodes"] == 5

    def fail(*args, **kwargs):
        raise AssertionError("measured again instead of reading the cache")

    monkeypatch.setattr(baseline, "measure_random_baseline", fail)
    baseline.clear_memo()  # a new process: only the file remembers
    assert random_baseline(env, episodes=5) == value


def test_measurement_is_deterministic():
    a = baseline.measure_random_baseline("CartPole-v1", episodes=4, seed=3)
    b = baseline.measure_random_baseline("CartPole-v1", episodes=4, seed=3)
    assert a["return"] == b["return"]


def test_kwargs_and_max_t_are_part_of_the_key():
    assert cache_key("X-v0", {"a": 1, "b": 2}, None) == cache_key("X-v0", {"b": 2, "a": 1}, None)
    assert cache_key("X-v0", {}, None) != cache_key("X-v0", {}, 100)
    assert cache_key("X-v0", {"a": 1}, None) != cache_key("X-v0", {"a": 2}, None)


@pytest.mark.parametrize("name", SHIPPED_ENVS)
def test_shipped_values_are_read_without_measuring(name, monkeypatch):
    monkeypatch.setattr(baseline, "measure_random_baseline", lambda *a, **k: pytest.fail("measured"))
    value = random_baseline(EnvSpec(name=name))
    shipped = json.loads(baseline.SHIPPED_FILE.read_text())
    assert value == shipped[cache_key(name)]["return"]


def test_shipped_values_are_plausible():
    v = {n: random_baseline(n) for n in SHIPPED_ENVS}
    assert 15 < v["CartPole-v1"] < 30
    assert -500 <= v["Acrobot-v1"] < -450
    assert v["MountainCar-v0"] == -200
    assert -1600 < v["Pendulum-v1"] < -900
    assert -300 < v["LunarLander-v3"] < -100
    assert -450 < v["HalfCheetah-v5"] < -150  # random torques: ~-0.3 per step over 1000 steps
    assert -300 < v["LunarLanderContinuous-v3"] < -100


def test_entry_point_env_names_are_registered(_isolated_cache):
    env = EnvSpec(name="gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_t=30)
    value = random_baseline(env, episodes=3)
    assert 0 < value <= 30
    assert any("CartPoleEnv" in k for k in json.loads((_isolated_cache / "random_baselines.json").read_text()))


def test_cache_dir_follows_env_vars(monkeypatch, tmp_path):
    monkeypatch.delenv(baseline.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert baseline.cache_dir() == tmp_path / "xdg" / "slm_lab"
    monkeypatch.setenv(baseline.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert baseline.cache_dir() == tmp_path / "mine"


def test_editing_a_custom_env_module_measures_its_baseline_again(_isolated_cache, tmp_path, monkeypatch):
    import sys

    from slm_lab.analysis.baseline import clear_cache, clear_memo

    package = tmp_path / "custom_envs_pkg"
    package.mkdir()
    source = '''import numpy as np
import gymnasium as gym


class Coin(gym.Env):
    """Reward REWARD per step for LENGTH steps, whatever the action."""

    observation_space = gym.spaces.Box(0, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), REWARD, self.t >= 5, False, {}
'''
    module = package / "coin_env.py"
    module.write_text(source.replace("REWARD", "1.0"))
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "coin_env:Coin"
    monkeypatch.syspath_prepend(str(package))
    assert random_baseline(name, episodes=2) == 5.0
    module.write_text(source.replace("REWARD", "2.0"))
    sys.modules.pop("coin_env", None)  # a new process would import the edited file
    clear_memo()
    key_after = cache_key(name, {}, None, episodes=2)
    cached = json.loads((_isolated_cache / "random_baselines.json").read_text())
    assert key_after not in cached  # the source changed: the old measurement does not apply
    import gymnasium as gym

    gym.envs.registry.pop("slm_lab/coin_env.Coin-v0", None)
    assert random_baseline(name, episodes=2) == 10.0
    assert len(json.loads((_isolated_cache / "random_baselines.json").read_text())) == 2
    assert clear_cache() == [_isolated_cache / "random_baselines.json"]
    assert not (_isolated_cache / "random_baselines.json").exists()


def test_clear_baselines_command_removes_the_measured_cache(_isolated_cache, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    cache_file = _isolated_cache / "random_baselines.json"
    cache_file.write_text(json.dumps({"X-v0|kwargs={}|max_t=None": {"return": 1.0}}))
    slm_lab = str(Path(sys.executable).parent / "slm-lab")
    env = {**os.environ, "SLM_LAB_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([slm_lab, "clear", "--baselines"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=PROGRESS_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert not cache_file.exists()
    assert baseline.SHIPPED_FILE.is_file()  # the shipped table is part of the lab, not a cache


def test_each_agent_of_a_multi_agent_env_is_measured_on_its_own_bodies(_isolated_cache):
    """MPE simple_tag under a random joint policy: the adversaries earn from catches, the good
    agent loses from them, so one number for the whole env would fit neither side."""
    tag = EnvSpec(name="pettingzoo:mpe2.simple_tag_v3", kwargs={"max_cycles": 25, "continuous_actions": False})
    predators = random_baseline(tag, episodes=30, bodies=[0, 1, 2])
    prey = random_baseline(tag, episodes=30, bodies=[3])
    assert predators > 0 > prey
    assert cache_key(tag.name, tag.kwargs, None, 30, [2, 0, 1]).endswith("|episodes=30|bodies=0,1,2")
    # Gymnasium bodies are copies of one env: bodies do not split its baseline
    assert random_baseline("CartPole-v1", episodes=5, bodies=[0]) == random_baseline("CartPole-v1", episodes=5)
