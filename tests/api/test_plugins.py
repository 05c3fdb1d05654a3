"""Plugins: algorithms, memories and nets named module:Class or registered with slm_lab.register."""

from __future__ import annotations

from pathlib import Path

import pytest

import slm_lab
from slm_lab.spec.errors import SpecError
from spec_helpers import tiny_spec

PLUGIN = "plugin_components"


def dqn_spec(marker_dir: Path, sessions: int, algorithm: str = f"{PLUGIN}:MarkerDQN", net: str = "MLPNet") -> dict:
    return tiny_spec(
        {"name": algorithm, "marker_dir": str(marker_dir), "training_start_step": 50, "training_frequency": 10,
         "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.1, "end_step": 200}},
        {"name": "Replay", "batch_size": 16, "max_size": 1000},
        {"type": net, "hid_layers": [16]},
        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
        meta={"max_session": sessions, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 1},
    )


def test_plugin_algorithm_runs_in_every_session_of_a_two_session_trial(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    result = slm_lab.train(dqn_spec(markers, 2, net=f"{PLUGIN}:WideMLP"), "plugin_dqn")
    files = sorted(markers.glob("seed_*.txt"))
    assert len(files) == 2, files  # one per session, each in its own process, both trained
    assert len({f.name.split("_pid_")[1] for f in files}) == 2
    assert all(f.read_text().startswith("trained") for f in files)
    import json

    saved = json.loads((result.run_dir / "spec.json").read_text())
    assert saved["agent"][0]["algorithm"]["name"] == f"{PLUGIN}:MarkerDQN"
    assert saved["agent"][0]["algorithm"]["marker_dir"] == str(markers)  # the plugin's own key, kept
    assert result.metrics["num_failed_sessions"] == 0


def test_plugin_gets_builtin_validation_for_known_keys(tmp_path: Path) -> None:
    spec = dqn_spec(tmp_path, 1)
    spec["agent"][0]["algorithm"]["gamma"] = 2.0
    with pytest.raises(SpecError, match=r"gamma.*2\.0"):
        slm_lab.api.prepare_spec(spec, "s")


def test_bad_plugin_path_is_a_one_line_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot import module 'no_such_module_xyz'") as e:
        slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, "no_such_module_xyz:Algo"), "s")
    assert "\n" not in str(e.value)
    with pytest.raises(SpecError, match=f"module '{PLUGIN}' has no 'Missing'"):
        slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, f"{PLUGIN}:Missing"), "s")


def test_plugin_of_the_wrong_base_class_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="must be a subclass of slm_lab.agent.algorithm.base.Algorithm"):
        slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, f"{PLUGIN}:NotAnAlgorithm"), "s")
    with pytest.raises(SpecError, match="must be a subclass of torch.nn"):
        slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, net=f"{PLUGIN}:MarkerDQN"), "s")


def test_register_in_process_and_refusals(tmp_path: Path) -> None:
    from plugin_components import MarkerDQN, NotAnAlgorithm

    slm_lab.register("MarkerDQN", MarkerDQN)
    spec = slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, "MarkerDQN"), "s")
    assert spec.agent[0].algorithm.name == "MarkerDQN"
    with pytest.raises(SpecError, match="built-in algorithm"):
        slm_lab.register("DQN", MarkerDQN)  # replacing a built-in is refused, not silently ignored
    with pytest.raises(SpecError, match="not an algorithm, memory or net"):
        slm_lab.register("Nope", NotAnAlgorithm)


def test_registered_main_class_with_two_sessions_is_refused_before_running(tmp_path: Path) -> None:
    from plugin_components import MarkerDQN

    main_cls = type("MainDQN", (MarkerDQN,), {"__module__": "__main__"})
    slm_lab.register("MainDQN", main_cls)
    with pytest.raises(SpecError, match="registered from __main__.*cannot import"):
        slm_lab.api.prepare_spec(dqn_spec(tmp_path, 2, "MainDQN"), "s")
    assert slm_lab.api.prepare_spec(dqn_spec(tmp_path, 1, "MainDQN"), "s")  # one session runs in-process


def test_extending_md_example_validates_its_own_keys_and_trains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples" / "plugins"))
    spec = dqn_spec(tmp_path, 1, "my_algos:MellowDQN")
    del spec["agent"][0]["algorithm"]["marker_dir"]
    spec["agent"][0]["algorithm"]["omega"] = -1.0
    with pytest.raises(SpecError, match="omega"):
        slm_lab.api.prepare_spec(spec, "mellow")
    spec["agent"][0]["algorithm"]["typo_key"] = 1
    spec["agent"][0]["algorithm"]["omega"] = 10.0
    with pytest.raises(SpecError, match="typo_key"):  # its own model decides: unknown keys are errors
        slm_lab.api.prepare_spec(spec, "mellow")
    del spec["agent"][0]["algorithm"]["typo_key"]
    result = slm_lab.train(spec, "mellow")
    assert result.metrics["num_failed_sessions"] == 0 and "my_algos" in sys.modules
