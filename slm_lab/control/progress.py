"""Progress of a running trial: a rich progress bar per session on a terminal, else nothing
(sessions then write periodic plain log lines, which suits CI and log files)."""

from __future__ import annotations

import math
from typing import Any

from slm_lab.spec.schema import Spec


class TrialProgress:
    """One bar per session: frames, frames/s and the latest return moving average."""

    def __init__(self, spec: Spec, enabled: bool) -> None:
        self.enabled = enabled
        self.spec = spec
        self.bar: Any = None
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> "TrialProgress":
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>7} fps"), TextColumn("return_ma {task.fields[return_ma]}"),
                TimeRemainingColumn(), transient=False,
            )
            self.bar.start()
            max_frame = self.spec.env[0].max_frame
            for s in range(self.spec.meta.max_session):
                self.tasks[s] = self.bar.add_task(f"{self.spec.name} s{s}", total=max_frame, fps="-", return_ma="-")
        return self

    def report(self, session: int, info: dict[str, Any]) -> None:
        if self.bar is None or session not in self.tasks:
            return
        ma = info.get("return_ma", math.nan)
        self.bar.update(
            self.tasks[session], completed=info["frame"], fps=f"{info.get('fps', 0):.0f}",
            return_ma="-" if ma is None or math.isnan(ma) else f"{ma:.1f}",
        )

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
