"""Divergence: a session whose loss goes NaN stops with a clear message in its folder, the
other sessions of the trial finish, and the trial metrics count the failure.

The NaN is honest, not injected into the lab: a test env (tests/diverging_env.py) returns
NaN rewards in the one session whose env is seeded with a chosen seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import torch

from spec_helpers import tiny_spec
from slm_lab.control.session import load_checkpoint
from slm_lab.control.trial import Trial
from slm_lab.lib.seeding import derive_seed
from slm_lab.spec.loader import validate


def test_one_diverging_session_fails_alone_with_a_clear_message(tmp_path: Path):
    seed = 5
    raw = tiny_spec(
        {"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
        # session 1's env is reset with its session seed (env 0 of the session: offset 0)
        env={"name": "diverging_env:NaNRewardCartPole", "num_envs": 1, "max_frame": 1500,
             "kwargs": {"nan_seed": derive_seed(seed, 0, 1), "nan_after": 100}},
        meta={"max_session": 2, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2, "seed": seed},
    )
    raw["name"] = "diverge"
    metrics = Trial(validate(raw), tmp_path, show_progress=False).run()

    assert metrics["num_failed_sessions"] == 1 and metrics["num_sessions"] == 1
    # line 1 of error.txt is the reason; the traceback below it is for debugging
    error = (tmp_path / "session_1" / "error.txt").read_text().splitlines()[0]
    assert error.startswith("diverged at frame ") and ("loss became nan" in error or "parameter of net became NaN" in error), error
    assert "NaN/inf in the env's rewards or observations" in error and "Traceback" not in error

    saved = json.loads((tmp_path / "trial_metrics.json").read_text())
    assert saved["trial"]["num_failed_sessions"] == 1
    assert saved["failed"] == {"1": error}
    table = pd.read_csv(tmp_path / "trial_metrics.csv").set_index("session")
    assert table.loc["1", "status"] == "failed" and table.loc["0", "status"] == "ok"
    assert error in (tmp_path / "report.html").read_text().replace("&#x27;", "'")

    # the healthy session ran its whole budget
    done = tmp_path / "session_0"
    assert json.loads((done / "session_done.json").read_text())["frame"] == 1500
    assert pd.read_csv(done / "train.csv")["frame"].tolist() == [500, 1000, 1500]
    assert not (done / "error.txt").exists()
    # the diverged session never finished and never saved a non-finite state to resume from
    failed = tmp_path / "session_1"
    assert not (failed / "session_done.json").exists()
    ckpt = failed / "model" / "checkpoint.pt"
    if ckpt.exists():
        for net in load_checkpoint(ckpt)["agents"][0]["nets"].values():
            assert all(torch.isfinite(t).all() for t in net.values())
