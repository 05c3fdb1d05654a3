"""Per-entry encoders (MultiInputNet) against one MLP over the flat vector (MLPNet) on a Dict
observation task (tests/multi_input_envs.py ColourFlipEnv: a 6x6x3 image + a Discrete shift,
best return 10, random about 10/6), same PPO and frame budget, a few seeds.

    PYTHONPATH=. python bench/multi_input.py [--frames 3000] [--seeds 0 1 2]

Prints the final greedy eval return (8 episodes) of each net and seed. Runs go to a temp dir.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test env and spec helper

NETS = {
    "MultiInputNet": {"type": "MultiInputNet", "conv_hid_layers": [[8, 3, 1]], "image_features": 32,
                      "vector_hid_layers": [16], "hid_layers": [64]},
    "MLPNet": {"type": "MLPNet", "hid_layers": [64]},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    os.environ.setdefault("SLM_LAB_DATA_DIR", tempfile.mkdtemp(prefix="slm_multi_input_"))
    import slm_lab
    from spec_helpers import tiny_spec

    for name, net in NETS.items():
        finals = []
        for seed in args.seeds:
            spec = tiny_spec({"name": "PPO", "training_frequency": 32, "minibatch_size": 32, "training_epoch": 4,
                              "gamma": 0.5, "entropy_coef_spec": {"start_val": 0.01}},
                             {"name": "OnPolicyBatchReplay"}, {**net, "optim_spec": {"name": "Adam", "lr": 3e-3}},
                             env={"name": "multi_input_envs:ColourFlipEnv", "num_envs": 4, "max_frame": args.frames},
                             meta={"max_session": 1, "log_frequency": 1000, "eval_frequency": 1000, "eval_episodes": 8,
                                   "seed": seed})
            finals.append(float(slm_lab.train(spec, f"bench_{name.lower()}").sessions[0].eval["return"].iloc[-1]))
        print(f"{name}: final eval return per seed {finals}, mean {sum(finals) / len(finals):.2f}")


if __name__ == "__main__":
    main()
