"""Optional TensorBoard scalars (`meta.tensorboard: true`): `tensorboard --logdir data/`.

A thin wrapper over `torch.utils.tensorboard.SummaryWriter` that drops NaN / inf values
(no episode finished yet, no loss yet) instead of writing gaps TensorBoard draws badly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)


class ScalarLogger:
    """Writes named scalars against a step (frames) into a TensorBoard event file in `log_dir`."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer: Any = SummaryWriter(log_dir=str(self.log_dir))

    def log(self, scalars: dict[str, float], step: int) -> None:
        """Add each finite scalar under its name (use `group/name` to group charts)."""
        if self._writer is None:
            raise RuntimeError("ScalarLogger is closed")
        for name, value in scalars.items():
            try:
                v = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                self._writer.add_scalar(name, v, global_step=int(step))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file; safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "ScalarLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
