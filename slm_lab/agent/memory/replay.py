"""Replay: a uniform experience replay ring buffer (Lin 1992; Mnih et al. 2015)."""

from __future__ import annotations

import numpy as np
import torch

from slm_lab.agent.memory.nstep import NStepAccumulator
from slm_lab.spec.schema import ReplaySpec


class Replay:
    """Fixed-size ring buffer of transitions, filled a batch of bodies at a time.

    Arrays are allocated once, on the first add, from the shapes seen. Only `terminated`
    is stored as the bootstrap mask: a truncated episode still bootstraps from s'.
    With `nstep` set (an NStepAccumulator: the algorithm's `n_step` > 1) the bodies' steps
    pass through it and the memory stores n-step transitions with their `discounts` gamma^k.
    """

    is_on_policy = False

    def __init__(self, spec: ReplaySpec, rng: np.random.Generator, max_frame: int | None = None) -> None:
        """Every off-policy memory takes (spec, the agent's generator, the run's frame budget)."""
        self.batch_size = spec.batch_size
        self.max_size = spec.max_size
        self.rng = rng
        self.size = 0
        self.head = 0
        self.arrays: dict[str, np.ndarray] = {}
        self.nstep: NStepAccumulator | None = None

    def _allocate(self, batch: dict[str, np.ndarray]) -> None:
        for key, value in batch.items():
            self.arrays[key] = np.zeros((self.max_size, *value.shape[1:]), dtype=value.dtype)

    def add(self, state, action, reward, next_state, terminated, truncated) -> None:
        if self.nstep is not None:
            batch = self.nstep.add(state, action, reward, next_state, terminated, truncated)
            if batch is not None:
                self._store(batch)
            return
        self._store({
            "states": state, "actions": action, "rewards": reward,
            "next_states": next_state, "terminated": terminated.astype(np.float32),
        })

    def _store(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Write a batch of transitions at the ring's head; returns the slots written."""
        if not self.arrays:
            self._allocate(batch)
        n = len(batch["rewards"])
        idx = (self.head + np.arange(n)) % self.max_size
        for key, value in batch.items():
            self.arrays[key][idx] = value
        self.head = (self.head + n) % self.max_size
        self.size = min(self.size + n, self.max_size)
        return idx

    def sample(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        idx = self.rng.integers(0, self.size, batch_size or self.batch_size)
        return {key: torch.from_numpy(arr[idx]) for key, arr in self.arrays.items()}

    def __len__(self) -> int:
        return self.size

    # --- checkpoints (resume) ---------------------------------------------------------------
    # A memory is saved with a resumable checkpoint only if its own class defines both
    # methods (control/resume.py checks `type(memory).__dict__`), so a subclass with more
    # state (priorities, frame rings) must opt in explicitly and can never be half-restored.
    # The pattern: plain numpy arrays only (saved with np.savez, loaded without pickle),
    # extend super()'s dict with your own keys and read them back after super().load_state_dict.

    def state_dict(self) -> dict[str, np.ndarray]:
        """The filled slots and the ring position, as plain arrays (written with np.savez)."""
        state = {"size": np.asarray(self.size), "head": np.asarray(self.head), "max_size": np.asarray(self.max_size)}
        for key, arr in self.arrays.items():
            state[f"arrays.{key}"] = arr[: self.size]  # slots [0, size) are filled until the ring wraps
        if self.nstep is not None:  # the steps still waiting for their n-step windows
            state.update({f"nstep.{k}": v for k, v in self.nstep.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if int(state["max_size"]) != self.max_size:
            raise ValueError(f"saved memory has max_size {int(state['max_size'])}, this one {self.max_size}")
        self.size, self.head = int(state["size"]), int(state["head"])
        saved = {k.partition(".")[2]: v for k, v in state.items() if k.startswith("arrays.")}
        self.arrays = {}
        if saved:
            self._allocate({k: v[:1] for k, v in saved.items()})
            for key, value in saved.items():
                self.arrays[key][: self.size] = value
        if self.nstep is not None:
            self.nstep.load_state_dict({k.partition(".")[2]: v for k, v in state.items() if k.startswith("nstep.")})
