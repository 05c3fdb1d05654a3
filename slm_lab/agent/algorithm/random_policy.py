"""A uniformly random player: the fixed opponent and the zero line of multi-agent benchmarks."""

from __future__ import annotations

import numpy as np

from slm_lab.agent.algorithm.base import Algorithm, TrainStats
from slm_lab.agent.masks import random_legal_from_states


class RandomPolicy(Algorithm):
    """Acts uniformly at random in its bodies' action space and never trains.

    Pairing a learner with it in a multi-agent env measures what the learner gains against
    an opponent that does not adapt (the random baseline of its role, made an agent)."""

    STATS = ("loss", "entropy")
    TRAINS = False

    def act(self, state: np.ndarray) -> np.ndarray:
        n = len(state)
        sp = self.spaces
        if sp.action_mask:
            return random_legal_from_states(state, sp.action_dim, self.rng)
        if sp.is_discrete:
            return self.rng.integers(0, sp.action_dim, n)
        if sp.action_nvec or sp.action_binary:  # MultiDiscrete / MultiBinary: each dim uniformly
            return self.rng.integers(0, np.asarray(sp.action_nvec or 2), (n, sp.action_dim))
        return self.rng.uniform(sp.action_low, sp.action_high, (n, sp.action_dim)).astype(np.float32)

    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.act(state)  # a random player has no greedy action

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int) -> None:
        self.frame = frame  # nothing to store or learn
        self.env_steps += 1

    def train(self) -> TrainStats:
        return {}
