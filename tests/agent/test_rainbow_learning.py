"""C51, QR-DQN and Rainbow each clearly beat a random policy on CartPole-v1 (random: about 22)
on a short budget; the shipped specs' solve runs are marked slow."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from slm_lab.control.session import Session
from slm_lab.spec.loader import load_spec, validate

RANDOM_CARTPOLE = 22.0
BASE = {"training_frequency": 4, "training_batch_iter": 2, "training_start_step": 500,
        "explore_var_spec": {"name": "linear_decay", "start_val": 1.0, "end_val": 0.05, "end_step": 5000}}
NET = {"hid_layers": [64, 64], "optim_spec": {"name": "Adam", "lr": 0.001}, "update_frequency": 500}
C51 = {"type": "categorical", "num_atoms": 51, "v_min": 0.0, "v_max": 100.0}
FAST = {
    "c51": ({"name": "DQN", **BASE, "distributional": C51}, "Replay", NET),
    "qrdqn": ({"name": "DQN", **BASE, "distributional": {"type": "quantile", "num_quantiles": 25}}, "Replay", NET),
    "rainbow": ({"name": "DoubleDQN", **BASE, "n_step": 3, "distributional": C51,
                 "explore_var_spec": {"name": "no_decay", "start_val": 0.0}},
                "PrioritizedReplay", {**NET, "dueling": True, "noisy": True}),
}


@pytest.mark.parametrize("name", list(FAST))
def test_beats_random_quickly(name: str, tmp_path: Path):
    algorithm, memory, net = FAST[name]
    spec = validate({
        "name": f"learn_{name}",
        "agent": [{"algorithm": algorithm, "memory": {"name": memory, "batch_size": 64, "max_size": 20000}, "net": net}],
        "env": [{"name": "CartPole-v1", "num_envs": 1, "max_frame": 12000}],
        "meta": {"max_session": 1, "log_frequency": 1000, "eval_frequency": 2000, "eval_episodes": 4, "seed": 1},
    })
    t0 = time.perf_counter()
    Session(spec, tmp_path).run()
    train = pd.read_csv(tmp_path / "train.csv")
    evals = pd.read_csv(tmp_path / "eval.csv")
    final_ma, best_eval = train["return_ma"].iloc[-1], evals["return"].max()
    print(f"{name}: final return_ma {final_ma:.1f}, best eval {best_eval:.1f}, {time.perf_counter() - t0:.0f}s")
    assert final_ma > 3 * RANDOM_CARTPOLE, f"training return_ma {final_ma:.1f} is not clearly above random"
    assert best_eval > 150, f"best greedy evaluation {best_eval:.1f}"


SOLVE = [
    ("benchmark/c51/c51_cartpole.json", "c51_cartpole"),
    ("benchmark/qrdqn/qrdqn_cartpole.json", "qrdqn_cartpole"),
    ("benchmark/rainbow/rainbow_cartpole.json", "rainbow_cartpole"),
]


@pytest.mark.slow
@pytest.mark.parametrize("spec_file,spec_name", SOLVE)
def test_shipped_spec_solves_cartpole(spec_file: str, spec_name: str, tmp_path: Path):
    """One session of each shipped spec reaches a 100-episode return moving average of 475 within 200k frames."""
    spec = load_spec(spec_file, spec_name, ["meta.max_session=1"])
    assert spec.env[0].max_frame <= 200_000
    Session(spec, tmp_path).run()
    train = pd.read_csv(tmp_path / "train.csv")
    assert train["return_ma"].max() >= 475, f"best return_ma {train['return_ma'].max():.1f}"
