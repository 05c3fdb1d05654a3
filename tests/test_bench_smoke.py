"""Smoke test of bench/lean_ppo.py (no timing: performance is never asserted in tests)."""

import importlib.util
from pathlib import Path

import pytest

LEAN = Path(__file__).resolve().parent.parent / "bench" / "lean_ppo.py"


def test_lean_ppo_runs_a_few_rollouts() -> None:
    spec = importlib.util.spec_from_file_location("lean_ppo", LEAN)
    lean = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lean)
    out = lean.train(frames=512, seed=0)  # two rollouts of 8 envs x 32 steps, 20 epochs each
    assert out["frames"] == 512
    assert out["loop_fps"] > 0
    # a greedy CartPole episode earns 1 per step and lasts at least ~8 steps
    assert 5.0 <= out["final_return"] <= 500.0
    assert out["final_return"] == pytest.approx(out["final_return"])  # a number, not NaN


def test_every_bench_spec_is_a_valid_lab_spec() -> None:
    from slm_lab.spec.loader import load_spec, read_spec_file

    zoo = Path(__file__).resolve().parent.parent / "bench" / "specs" / "zoo.json"
    names = list(read_spec_file(zoo))
    assert "a2c_lunar" in names and "ppo_cartpole" in names
    for name in names:
        assert load_spec(zoo, name).name == name


def test_results_table_reproduce_command_carries_a_changed_budget() -> None:
    import json

    path = Path(__file__).resolve().parent.parent / "bench" / "results_table.py"
    spec = importlib.util.spec_from_file_location("results_table", path)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    shipped = table.shipped_spec_file("sac_pendulum")
    raw = json.loads((table.SHIPPED_SPEC_DIR / shipped).read_text())["sac_pendulum"]
    raw["name"] = "sac_pendulum"
    assert table.budget_overrides(shipped, raw) == ""  # the shipped budget: nothing to add
    raw["env"][0]["max_frame"] = 60_000
    assert table.budget_overrides(shipped, raw) == " -s env.0.max_frame=60000"


def test_the_device_checks_runs_are_valid_lab_specs() -> None:
    """bench/device_check.py waits for an accelerator: every run it plans must at least validate here."""
    from slm_lab.spec.loader import load_spec

    path = Path(__file__).resolve().parent.parent / "bench" / "device_check.py"
    spec = importlib.util.spec_from_file_location("device_check", path)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    for case, (file, name, frames, common) in check.THROUGHPUT.items():
        for variant, extra in check.VARIANTS.items():
            if variant == "bf16" and "cartpole" in case:
                continue
            loaded = load_spec(file, name, overrides=[*common, *extra, "agent.0.net.gpu=false", f"env.0.max_frame={frames}"])
            assert loaded.env[0].max_frame == frames
