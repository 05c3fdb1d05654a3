"""On-policy memories: experience used for one update, then discarded.

Both hand the algorithm time-major arrays of shape [T, B, ...] with `terminated` and
`truncated` flags, so return and advantage estimators work on either.
"""

from __future__ import annotations

import numpy as np
import torch

KEYS = ("states", "actions", "rewards", "next_states", "terminated", "truncated")


def _to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


class OnPolicyBatchReplay:
    """A rollout of `training_frequency` steps of every body: [T, B, ...]."""

    is_on_policy = True

    def __init__(self, spec: object, training_frequency: int) -> None:
        self.horizon = training_frequency
        self.t = 0
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, state, action, reward, next_state, terminated, truncated) -> None:
        self._store(dict(zip(KEYS, (state, action, reward, next_state, terminated, truncated))))
        self.t += 1

    def add_extras(self, **arrays: np.ndarray) -> None:
        """Per-step arrays beyond the transition, kept at the step the next `add` fills and
        handed out by `sample` beside it (RecurrentPPO: episode starts and hidden states)."""
        self._store(arrays)

    def _store(self, step: dict[str, np.ndarray]) -> None:
        for k, v in step.items():
            if k not in self.arrays:
                dtype = np.float32 if k in ("terminated", "truncated") else np.asarray(v).dtype
                self.arrays[k] = np.zeros((self.horizon, *np.shape(v)), dtype=dtype)
            self.arrays[k][self.t] = v

    def ready(self) -> bool:
        return self.t >= self.horizon

    def state_dict(self) -> dict[str, np.ndarray]:
        """The rollout so far (at most `training_frequency` steps), so a resume continues it."""
        return {"t": np.asarray(self.t, dtype=np.int64), **{k: v.copy() for k, v in self.arrays.items()}}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        arrays = {k: np.array(v, copy=True) for k, v in state.items() if k != "t"}
        if arrays and any(len(v) != self.horizon for v in arrays.values()):
            raise ValueError(f"a rollout of {len(next(iter(arrays.values())))} steps, this memory holds {self.horizon}")
        self.t, self.arrays = int(np.asarray(state["t"]).item()), arrays

    def sample(self) -> dict[str, torch.Tensor]:
        """The whole rollout; the memory starts empty again (arrays are reused, so copy)."""
        batch = _to_tensors({k: v.copy() for k, v in self.arrays.items()})
        self.t = 0
        return batch


class OnPolicyReplay:
    """Whole episodes: ready after `training_frequency` episodes have finished (any bodies).

    Finished episodes are concatenated along time with B = 1; their done flags mark
    where one ends and the next begins.
    """

    is_on_policy = True

    def __init__(self, spec: object, training_frequency: int) -> None:
        self.episodes_needed = training_frequency
        self.running: dict[int, list[tuple]] = {}
        self.done_episodes: list[list[tuple]] = []

    def add(self, state, action, reward, next_state, terminated, truncated) -> None:
        for b in range(len(reward)):  # per body only to route steps into episodes
            self.running.setdefault(b, []).append(
                (state[b], action[b], reward[b], next_state[b], float(terminated[b]), float(truncated[b]))
            )
            if terminated[b] or truncated[b]:
                self.done_episodes.append(self.running.pop(b))

    def ready(self) -> bool:
        return len(self.done_episodes) >= self.episodes_needed

    def sample(self) -> dict[str, torch.Tensor]:
        steps = [step for ep in self.done_episodes for step in ep]
        self.done_episodes = []
        columns = list(zip(*steps))
        arrays = {}
        for k, col in zip(KEYS, columns):
            arr = np.stack(col) if np.ndim(col[0]) else np.asarray(col)
            arrays[k] = arr[:, None].astype(np.float32 if k in ("terminated", "truncated") else arr.dtype)
        return _to_tensors(arrays)
