"""ScalarLogger writes TensorBoard scalars and skips NaN."""

from __future__ import annotations

import math

from slm_lab.analysis.tensorboard import ScalarLogger


def test_scalar_logger_writes_finite_values(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with ScalarLogger(tmp_path / "tb") as tb:
        tb.log({"train/return": 1.0, "train/loss": math.nan, "lr": 1e-3}, step=100)
        tb.log({"train/return": 2.0, "train/loss": 0.5, "note": "text"}, step=200)
    tb.close()  # closing twice is fine
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert set(tags) == {"train/return", "train/loss", "lr"}
    assert [(e.step, e.value) for e in acc.Scalars("train/return")] == [(100, 1.0), (200, 2.0)]
    assert [e.step for e in acc.Scalars("train/loss")] == [200]  # the NaN was skipped
