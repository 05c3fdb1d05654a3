"""NStepAccumulator: turns each body's stream of 1-step transitions into n-step transitions.

The n-step return (Sutton 1988; used by Rainbow, Hessel et al. 2018) of the step at time t is

    G_t = r_t + gamma r_{t+1} + ... + gamma^{k-1} r_{t+k-1},   target = G_t + gamma^k (1 - terminated) Q(s_{t+k})

with k = n, or fewer when the episode ends first: at a termination the sum stops and nothing is
bootstrapped; at a truncation the sum stops and bootstraps from the true final observation
(the s' the env handed back with truncated = True). The replay memory stores (s_t, a_t, G_t,
s_{t+k}, terminated, gamma^k), so the algorithm's target reads its discount from the batch.
"""

from __future__ import annotations

import numpy as np


class NStepAccumulator:
    """Holds each body's last n steps; emits a transition once its n-step window is complete,
    and all of a body's pending transitions (with shorter windows) when its episode ends.

    Per step the work is a few batched numpy ops; only bodies whose episode just ended are
    visited one by one (rare). The window of body b is the last `pending[b]` steps of its ring.
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n = n
        self.gamma = gamma
        self.powers = gamma ** np.arange(n + 1)  # gamma^0 .. gamma^n
        self.steps: dict[str, np.ndarray] = {}  # [n, B, ...] rings of states, actions, rewards
        self.pending = np.zeros(0, dtype=np.int64)  # steps each body holds that await their window
        self.t = 0  # steps seen: step t sits in ring slot t % n

    def _allocate(self, state: np.ndarray, action: np.ndarray, reward: np.ndarray) -> None:
        for key, value in (("states", state), ("actions", action), ("rewards", reward)):
            self.steps[key] = np.zeros((self.n, *np.shape(value)), dtype=np.asarray(value).dtype)
        self.pending = np.zeros(len(reward), dtype=np.int64)

    def add(self, state, action, reward, next_state, terminated, truncated) -> dict[str, np.ndarray] | None:
        """Take one step of every body; return the transitions it completes (None if none)."""
        if not self.steps:
            self._allocate(state, action, reward)
        slot = self.t % self.n
        for key, value in (("states", state), ("actions", action), ("rewards", reward)):
            self.steps[key][slot] = value
        self.t += 1
        self.pending += 1
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        full = (self.pending == self.n) & ~done
        starts, bodies, lengths = [], [], []
        if full.any():  # the oldest step of a full window gets its n-step return
            b = np.flatnonzero(full)
            starts.append(np.full(len(b), self.t - self.n)), bodies.append(b), lengths.append(np.full(len(b), self.n))
        for b in np.flatnonzero(done):  # every pending step of an ended episode: windows k = p .. 1
            p = int(self.pending[b])
            starts.append(np.arange(self.t - p, self.t)), bodies.append(np.full(p, b)), lengths.append(np.arange(p, 0, -1))
        self.pending[full] -= 1
        self.pending[done] = 0
        if not starts:
            return None
        return self._emit(np.concatenate(starts), np.concatenate(bodies), np.concatenate(lengths),
                          next_state, np.asarray(terminated))

    def _emit(self, start: np.ndarray, body: np.ndarray, length: np.ndarray,
              next_state: np.ndarray, terminated: np.ndarray) -> dict[str, np.ndarray]:
        """Transitions starting at step `start` of `body`, summing `length` rewards each."""
        offsets = np.arange(self.n)
        times = start[:, None] + offsets  # [m, n]: the steps each window may cover
        in_window = offsets < length[:, None]
        rewards = self.steps["rewards"][times % self.n, body[:, None]]
        returns = (np.where(in_window, rewards, 0.0) * self.powers[: self.n]).sum(-1)
        first = start % self.n
        return {
            "states": self.steps["states"][first, body],
            "actions": self.steps["actions"][first, body],
            "rewards": returns.astype(self.steps["rewards"].dtype),
            "next_states": next_state[body],
            "terminated": terminated[body].astype(np.float32),
            "discounts": self.powers[length].astype(np.float32),
        }

    # --- checkpoints (resume): the rings and each body's pending count ------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        state = {"t": np.asarray(self.t), "pending": self.pending}
        state.update({f"steps.{k}": v for k, v in self.steps.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])
        self.pending = np.asarray(state["pending"], dtype=np.int64).copy()
        self.steps = {k.partition(".")[2]: np.asarray(v).copy() for k, v in state.items() if k.startswith("steps.")}
