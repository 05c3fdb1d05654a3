"""Prioritized experience replay (Schaul et al. 2016, "Prioritized Experience Replay").

Proportional variant: transition i is sampled with probability P(i) = p_i^alpha / sum_k p_k^alpha,
where p_i = |delta_i| + epsilon is its last TD error magnitude. The bias this introduces is
corrected with importance-sampling weights w_i = (N * P(i))^-beta, normalized by the largest
weight in the batch so they only scale updates down; beta is annealed linearly to 1 over
`beta_steps` transitions (default: the whole run), where the correction matters most.
"""

from __future__ import annotations

import numpy as np
import torch

from slm_lab.agent.memory.replay import Replay
from slm_lab.spec.schema import PrioritizedReplaySpec


class SumTree:
    """A binary tree whose every node holds the sum of its two children; the leaves hold priorities.

    Stored as one float64 array: node k has children 2k and 2k+1, the root is node 1 and the
    leaves are nodes [capacity, 2 * capacity) (capacity rounded up to a power of two). Both
    batched operations walk the tree level by level over the whole batch at once, so a batch
    costs log2(capacity) numpy calls instead of batch_size * log2(capacity) Python steps.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.capacity = 1 << max(int(np.ceil(np.log2(max(size, 2)))), 1)
        self.depth = int(np.log2(self.capacity))
        self.nodes = np.zeros(2 * self.capacity, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def leaves(self, idx: np.ndarray) -> np.ndarray:
        return self.nodes[self.capacity + np.asarray(idx)]

    def set_leaves(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Set leaves `idx` to `values` and recompute the sums on their paths to the root."""
        nodes = self.capacity + np.asarray(idx, dtype=np.int64)
        self.nodes[nodes] = values  # a repeated index keeps its last value
        parents = np.unique(nodes >> 1)
        for _ in range(self.depth):
            self.nodes[parents] = self.nodes[2 * parents] + self.nodes[2 * parents + 1]
            parents = np.unique(parents >> 1)

    def find(self, mass: np.ndarray) -> np.ndarray:
        """Leaf index of each prefix-sum value in `mass` (each in [0, total))."""
        mass = np.array(mass, dtype=np.float64)
        node = np.ones(len(mass), dtype=np.int64)
        for _ in range(self.depth):
            left = 2 * node
            left_sum = self.nodes[left]
            # rounding can leave `mass` a hair above a subtree's sum: never step into an empty right subtree
            go_right = (mass >= left_sum) & (self.nodes[left + 1] > 0)
            mass = np.where(go_right, mass - left_sum, mass)
            node = left + go_right
        return np.minimum(node - self.capacity, self.size - 1)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n leaves drawn proportionally to their values, one from each of n equal segments of
        the total mass (stratified: lower variance than n independent draws)."""
        bounds = (np.arange(n) + rng.random(n)) * (self.total / n)
        return self.find(bounds)


class PrioritizedReplay(Replay):
    """Replay whose sampling favours transitions with large TD errors.

    `sample()` adds `weights` (importance-sampling weights, float32) and `idx` (the slots
    sampled) to the batch; the algorithm scales each sample's loss by its weight and calls
    `update_priorities(idx, |td_error|)`. New transitions get the largest priority seen so
    far, so each is replayed at least once soon after it arrives.
    """

    def __init__(self, spec: PrioritizedReplaySpec, rng: np.random.Generator, max_frame: int | None = None) -> None:
        super().__init__(spec, rng, max_frame)
        self.alpha = spec.alpha
        self.beta_start = spec.beta
        self.beta_steps = spec.beta_steps or max_frame or 1
        self.epsilon = spec.epsilon
        self.tree = SumTree(self.max_size)
        self.max_priority = 1.0  # in p^alpha units
        self.added = 0  # transitions ever added: the clock of the beta schedule

    def beta(self) -> float:
        fraction = min(self.added / self.beta_steps, 1.0)
        return self.beta_start + (1.0 - self.beta_start) * fraction

    def _store(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        idx = super()._store(batch)
        self.tree.set_leaves(idx, np.full(len(idx), self.max_priority))
        self.added += len(idx)
        return idx

    def sample(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        n = batch_size or self.batch_size
        idx = self.tree.sample(n, self.rng)
        batch = {key: torch.from_numpy(arr[idx]) for key, arr in self.arrays.items()}
        batch["weights"] = torch.from_numpy(self.importance_weights(idx))
        batch["idx"] = torch.from_numpy(idx)
        return batch

    def importance_weights(self, idx: np.ndarray) -> np.ndarray:
        """w_i = (N * P(i))^-beta / max_batch w (the batch max keeps w <= 1 without a min-tree)."""
        probs = self.tree.leaves(idx) / self.tree.total
        weights = (self.size * probs) ** -self.beta()
        return (weights / weights.max()).astype(np.float32)

    def update_priorities(self, idx: np.ndarray | torch.Tensor, td_abs: np.ndarray | torch.Tensor) -> None:
        """p_i = (|delta_i| + epsilon)^alpha for the sampled slots."""
        idx = np.asarray(idx, dtype=np.int64)
        priorities = (np.asarray(td_abs, dtype=np.float64) + self.epsilon) ** self.alpha
        self.tree.set_leaves(idx, priorities)
        self.max_priority = max(self.max_priority, float(priorities.max()))

    # --- checkpoints (resume): Replay's arrays plus the priorities and the beta clock --------

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state["priorities"] = self.tree.leaves(np.arange(self.size))
        state["max_priority"] = np.asarray(self.max_priority)
        state["added"] = np.asarray(self.added)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        super().load_state_dict(state)
        self.tree = SumTree(self.max_size)
        self.tree.set_leaves(np.arange(self.size), np.asarray(state["priorities"], dtype=np.float64))
        self.max_priority = float(state["max_priority"])
        self.added = int(state["added"])
