"""AtariReplay: a replay memory for frame-stacked observations that stores each frame once.

A stacked observation s_t = [f_{t-k+1}, ..., f_t] (k frames on axis 0, as Gymnasium's
FrameStackObservation makes them) shares k-1 frames with s_{t+1}. Storing s and s' per
transition would keep every frame 2k times (8x for Atari's k = 4: 56 KB instead of 7 KB a
transition, 56 GB for the 1M transitions of Mnih et al. 2015). Here each body has a ring of
slots; a slot holds one frame plus the transition that frame completes:

    slot j: frame f, and (action, reward, terminated) of the step whose s' ends with f
    s  = frames of slots j-k .. j-1,   s' = frames of slots j-k+1 .. j

When a body starts a new episode (its first step, or the step after a done) the k frames of
its first observation are written to k slots that hold no transition, so every stack is
rebuilt exactly as the env handed it out (whatever its padding at reset) with no special case
at sample time. A slot is sampled only if it holds a transition and its k predecessors have
not been overwritten by the ring.
"""

from __future__ import annotations

import numpy as np
import torch

from slm_lab.spec.schema import AtariReplaySpec


class AtariReplay:
    """Uniform replay over frame-stacked observations, one stored frame per transition.

    Slots per body = max_size // num_bodies. Bytes per transition: one frame
    (84 * 84 = 7056 for Atari) + action + reward + 2 flags, plus k empty slots per episode.
    """

    is_on_policy = False

    def __init__(self, spec: AtariReplaySpec, rng: np.random.Generator, max_frame: int | None = None) -> None:
        self.batch_size = spec.batch_size
        self.max_size = spec.max_size
        self.rng = rng
        self.frames: np.ndarray | None = None  # [B, C, *frame_shape]
        self.count = 0  # transitions held (sampleable slots)

    def _allocate(self, state: np.ndarray, action: np.ndarray) -> None:
        if state.ndim < 3:
            raise ValueError(f"AtariReplay needs frame-stacked observations [bodies, k, ...]; got shape {state.shape}")
        self.num_bodies, self.stack = state.shape[0], state.shape[1]
        self.slots = self.max_size // self.num_bodies
        if self.slots <= 2 * self.stack:
            raise ValueError(f"AtariReplay max_size {self.max_size} is too small for {self.num_bodies} bodies")
        shape = (self.num_bodies, self.slots)
        # np.zeros maps pages lazily: a 1M-slot ring only takes memory as it fills
        self.frames = np.zeros((*shape, *state.shape[2:]), dtype=state.dtype)
        self.actions = np.zeros((*shape, *action.shape[1:]), dtype=action.dtype)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=np.float32)
        self.valid = np.zeros(shape, dtype=bool)  # slot holds a transition
        self.head = np.zeros(self.num_bodies, dtype=np.int64)  # next slot to write = oldest slot once full
        self.filled = np.zeros(self.num_bodies, dtype=np.int64)
        self.starts = np.ones(self.num_bodies, dtype=bool)  # the next step begins an episode

    def _write(self, bodies: np.ndarray, frames: np.ndarray, valid: bool) -> np.ndarray:
        """Write one frame to the head slot of each of `bodies`; returns the slots written."""
        slots = self.head[bodies]
        self.count -= int(self.valid[bodies, slots].sum())
        self.frames[bodies, slots] = frames
        self.valid[bodies, slots] = valid
        self.count += len(bodies) if valid else 0
        self.head[bodies] = (slots + 1) % self.slots
        self.filled[bodies] = np.minimum(self.filled[bodies] + 1, self.slots)
        return slots

    def add(self, state, action, reward, next_state, terminated, truncated) -> None:
        if self.frames is None:
            self._allocate(state, action)
        for b in np.flatnonzero(self.starts):  # episode starts only: rare, not per step
            for i in range(self.stack):
                self._write(np.array([b]), state[b, i][None], False)
        bodies = np.arange(self.num_bodies)
        slots = self._write(bodies, next_state[:, -1], True)
        self.actions[bodies, slots] = action
        self.rewards[bodies, slots] = reward
        self.terminated[bodies, slots] = terminated
        self.starts = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)

    def sampleable(self, bodies: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """A slot holds a transition and none of its k predecessors was overwritten."""
        age = (slots - self.head[bodies]) % self.slots  # 0 = oldest slot once the ring is full
        intact = (self.filled[bodies] < self.slots) | (age >= self.stack)
        return self.valid[bodies, slots] & intact

    def sample(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        n = batch_size or self.batch_size
        if self.count == 0:
            raise ValueError("AtariReplay.sample: the memory holds no transition yet")
        bodies, slots = np.empty(0, np.int64), np.empty(0, np.int64)
        while len(bodies) < n:  # rejection: only a few slots per episode are not sampleable
            b = self.rng.integers(0, self.num_bodies, 2 * n)
            s = self.rng.integers(0, self.filled[b])
            keep = self.sampleable(b, s)
            bodies, slots = np.concatenate([bodies, b[keep]]), np.concatenate([slots, s[keep]])
        bodies, slots = bodies[:n], slots[:n]
        window = (slots[:, None] + np.arange(-self.stack, 1)) % self.slots  # [n, k + 1] slots
        frames = self.frames[bodies[:, None], window]  # [n, k + 1, ...]: s and s' share k - 1 frames
        return {
            "states": torch.from_numpy(frames[:, :-1]),
            "actions": torch.from_numpy(self.actions[bodies, slots]),
            "rewards": torch.from_numpy(self.rewards[bodies, slots]),
            "next_states": torch.from_numpy(frames[:, 1:]),
            "terminated": torch.from_numpy(self.terminated[bodies, slots]),
        }

    def bytes_per_transition(self) -> float:
        """Bytes held per sampleable transition once full (frames, actions, rewards, flags)."""
        arrays = (self.frames, self.actions, self.rewards, self.terminated, self.valid)
        return sum(a.nbytes for a in arrays) / (self.num_bodies * self.slots)

    def __len__(self) -> int:
        return self.count

    # --- checkpoints (resume): plain arrays only, the filled part of each body's ring -------

    STATE_ARRAYS = ("frames", "actions", "rewards", "terminated", "valid")

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"max_size": np.asarray(self.max_size), "count": np.asarray(self.count)}
        if self.frames is None:
            return state
        used = int(self.filled.max())  # each body fills slots [0, filled) before its ring wraps
        for key in self.STATE_ARRAYS:
            state[f"arrays.{key}"] = getattr(self, key)[:, :used]
        state.update(head=self.head, filled=self.filled, starts=self.starts, slots=np.asarray(self.slots), stack=np.asarray(self.stack))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if int(state["max_size"]) != self.max_size:
            raise ValueError(f"saved memory has max_size {int(state['max_size'])}, this one {self.max_size}")
        self.count = int(state["count"])
        if "arrays.frames" not in state:
            self.frames = None
            return
        frames, actions = state["arrays.frames"], state["arrays.actions"]
        # allocate from the shape of one stacked observation, then copy the saved slots in
        obs = np.zeros((frames.shape[0], int(state["stack"]), *frames.shape[2:]), frames.dtype)
        self._allocate(obs, actions[:, 0])
        if int(state["slots"]) != self.slots:
            raise ValueError(f"saved memory has {int(state['slots'])} slots per body, this one {self.slots}")
        used = frames.shape[1]
        for key in self.STATE_ARRAYS:
            getattr(self, key)[:, :used] = state[f"arrays.{key}"]
        self.head, self.filled, self.starts = state["head"].copy(), state["filled"].copy(), state["starts"].copy()
