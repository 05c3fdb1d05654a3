"""What every env adapter offers the session loop, and the types it speaks (a light module: no
gymnasium, no torch), plus the per-body episode bookkeeping all adapters share.

An adapter is one env of the AEB space. Its bodies are the rows of every batch: `reset()` gives
the states [bodies, ...]; `step(actions)` gives a `StepResult`; finished episodes are drained as
(body, return, length) for the training table; `state_dict()` / `load_state_dict()` carry it
across a resume (load returns True when the env's own simulation came back, so no reset is due).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

Episode = tuple[int, float, int]  # (body, return, length) of one finished episode


@dataclass(frozen=True)
class ObsEntry:
    """One entry of a Tuple / Dict observation inside the flat vector the env gives.

    `name` is the entry's path ("image", "1", "arm/pos" for nested spaces); `flat[offset:offset
    + size]` holds it as Gymnasium's `flatten` writes it (one-hots for Discrete, raw values for a
    Box). An image keeps its `shape` as the env gives it; `channels_last` says it is [H, W, C];
    `scale` is 1/255 for uint8 pixels (they reach the net as float32 here)."""

    name: str
    kind: str  # "vector" or "image"
    offset: int
    size: int
    shape: tuple[int, ...]
    channels_last: bool = False
    scale: float = 1.0


class ObsLayout(int):
    """The flat observation size (an int: what every vector net reads, unchanged) that also
    knows the entries it was flattened from (what MultiInputNet splits it back into).

    It rides in `BodySpaces.obs_dim`, so memories, snapshots and every algorithm pass it on
    untouched; only a net that asks for `entries` sees the difference."""

    entries: tuple[ObsEntry, ...]

    def __new__(cls, entries: tuple[ObsEntry, ...] | list[ObsEntry]) -> ObsLayout:
        entries = tuple(entries)
        self = super().__new__(cls, sum(e.size for e in entries))
        self.entries = entries
        return self

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # pickle / deepcopy keep the entries
        return ObsLayout, (self.entries,)

    def __repr__(self) -> str:
        return f"ObsLayout({int(self)}: {', '.join(f'{e.name}={e.kind}{list(e.shape)}' for e in self.entries)})"


@dataclass(frozen=True)
class BodySpaces:
    """What an agent must know of its bodies in one env to build its nets."""

    # the size of a flat observation; the full shape of a stacked [k, d] or image [C, H, W] one;
    # an ObsLayout (an int) for a flattened Tuple / Dict observation
    obs_dim: int | tuple[int, ...]
    # number of discrete actions, size of a continuous action, or of a MultiDiscrete / MultiBinary one
    action_dim: int
    is_discrete: bool  # a Discrete space: one integer action per body
    num_bodies: int
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None
    # the last action_dim entries of each observation are the legal-action mask (agent/masks.py)
    action_mask: bool = False
    # MultiDiscrete actions: the choices of each of the action_dim integer dims; MultiBinary: action_dim bits
    action_nvec: tuple[int, ...] = ()
    action_binary: bool = False
    # the size of a centralized critic's input (algorithm.critic_input "joint" / "state"); None: own obs
    critic_dim: int | None = None

    @property
    def action_kind(self) -> str:
        """'discrete', 'continuous', 'multi_discrete' or 'multi_binary' (spec ALGORITHM_ACTIONS)."""
        if self.is_discrete:
            return "discrete"
        return "multi_binary" if self.action_binary else "multi_discrete" if self.action_nvec else "continuous"

    @property
    def policy_dim(self) -> int:
        """The width of a policy head: one logit per choice of each dim (sum(nvec)), per bit, or action_dim."""
        return sum(self.action_nvec) if self.action_nvec else self.action_dim

    @property
    def obs_layout(self) -> ObsLayout | None:
        """The entries of a Tuple / Dict observation (env/spaces.py), or None for other spaces."""
        return self.obs_dim if isinstance(self.obs_dim, ObsLayout) else None


@dataclass
class StepResult:
    """One vector step. `next_state` is what an agent stores as s' (the final obs on done);
    `state` is what it acts on next (the reset obs on done). `terminated` and `truncated` stay
    apart: a truncated step still bootstraps from `next_state`. A multi-agent env that tracks
    its global state for centralized critics (`PettingZooEnv.track_global_state`) also gives
    the state that goes with `state` and with `next_state` (flat [state_dim], one per env)."""

    state: np.ndarray
    next_state: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    global_state: np.ndarray | None = None
    next_global_state: np.ndarray | None = None


@runtime_checkable
class EnvAdapter(Protocol):
    """The interface of GymEnv, UnityEnv, PettingZooEnv (and any adapter to come)."""

    spec: Any
    spaces: BodySpaces
    num_bodies: int
    clock: Any

    def reset(self) -> np.ndarray: ...

    def step(self, action: np.ndarray) -> StepResult: ...

    def drain_finished(self) -> list[Episode]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> bool: ...

    def close(self) -> None: ...


class EpisodeTracker:
    """Each body's running return and length, and the episodes finished since the last drain.

    Returns are the env's own rewards (before clipping or normalization): what a user reads in
    the training table is the game's score."""

    def __init__(self, num_bodies: int) -> None:
        self.returns = np.zeros(num_bodies, dtype=np.float64)
        self.lengths = np.zeros(num_bodies, dtype=np.int64)
        self.finished: list[Episode] = []

    def restart(self) -> None:
        """Every body starts an episode (an env reset)."""
        self.returns[:] = 0.0
        self.lengths[:] = 0

    def add(self, reward: np.ndarray) -> None:
        self.returns += reward
        self.lengths += 1

    def end(self, done: np.ndarray) -> int:
        """Record the episodes of the bodies in `done` and restart them; how many ended."""
        n_done = int(np.count_nonzero(done))
        if n_done:
            for b in np.flatnonzero(done):  # only on episode ends: rare, not per step
                self.finished.append((int(b), float(self.returns[b]), int(self.lengths[b])))
            self.returns[done] = 0.0
            self.lengths[done] = 0
        return n_done

    def drain(self) -> list[Episode]:
        out, self.finished = self.finished, []
        return out

    def state_dict(self) -> dict[str, Any]:
        """Plain lists: a checkpoint loads them with weights_only."""
        return {"finished": [[int(b), float(r), int(n)] for b, r, n in self.finished],
                "returns": self.returns.tolist(), "lengths": self.lengths.tolist()}

    def load_state_dict(self, state: dict[str, Any], running: bool = True) -> None:
        """`running`: also the episodes under way (only when the env's simulation came back too)."""
        self.finished = [(int(b), float(r), int(n)) for b, r, n in state["finished"]]
        if running and "returns" in state:
            self.returns[:] = np.asarray(state["returns"], dtype=np.float64)
            self.lengths[:] = np.asarray(state["lengths"], dtype=np.int64)
