"""Per-environment clock: frames (env steps summed over bodies), episodes, wall time."""

from __future__ import annotations

import time


class Clock:
    """Counts what happened in one env; each env in an AEB space has its own."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self.frame = 0
        self.episode = 0
        self.start_wall = time.perf_counter()

    def restart(self) -> None:
        """Zero the wall clock: called as training starts, so wall_t counts the training loop, not set-up."""
        self.start_wall = time.perf_counter()

    def tick(self, frames: int, episodes: int) -> None:
        self.frame += frames
        self.episode += episodes

    @property
    def wall_t(self) -> float:
        return time.perf_counter() - self.start_wall

    def done(self) -> bool:
        return self.frame >= self.max_frame

    def state_dict(self) -> dict[str, float]:
        return {"frame": int(self.frame), "episode": int(self.episode), "wall_t": float(self.wall_t)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Counts as saved; the wall clock goes on from the saved time (the budget is not part of the state)."""
        self.frame, self.episode = int(state["frame"]), int(state["episode"])
        self.start_wall = time.perf_counter() - float(state["wall_t"])
