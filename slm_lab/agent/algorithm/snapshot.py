"""Self-play opponent: frozen snapshots of another agent, drawn from a pool by a rule in the spec."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from slm_lab.agent.algorithm.base import Algorithm, TrainStats


class SnapshotPlayer(Algorithm):
    """Plays as a frozen past version of agent `algorithm.of` (its learner) and never trains.

    The learner's nets are copied into the pool every `snapshot_frequency` of its frames
    (the first copy when play starts); the last `last_k` copies are kept. At each game's
    start one is drawn (`pool`: latest / uniform / prioritized by the learner's win rate
    against each, from the games this player saw: its own negative return is the learner's
    win). The player acts with the learner's algorithm class, so it explores as the learner does.
    """

    STATS = ("loss", "entropy")
    TRAINS = False  # it plays the learner's snapshots; the learner trains

    def __init__(self, spec: Any, spaces: Any, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.learner: Algorithm | None = None
        self.player: Algorithm | None = None
        self.pool: list[dict[str, Any]] = []  # {"frame", "nets", "games", "learner_wins"}
        self.current = -1  # the pool index playing now
        self.last_snapshot = -1
        self.game_return = 0.0

    def bind(self, learner: Algorithm, make: Any) -> None:
        """Give the player its learner (built after it); `make(spec, spaces)` builds the same algorithm."""
        if learner.spaces.obs_dim != self.spaces.obs_dim or learner.spaces.action_dim != self.spaces.action_dim:
            raise ValueError(f"a Snapshot player needs its learner's spaces: obs {learner.spaces.obs_dim} and "
                             f"{learner.spaces.action_dim} actions, but its bodies have obs {self.spaces.obs_dim} and {self.spaces.action_dim}")
        self.learner = learner
        self.player = make(learner.spec, self.spaces)
        self.snapshot()
        self.draw()

    # --- the pool ---------------------------------------------------------------------------

    def snapshot(self) -> None:
        nets = {k: copy.deepcopy(v.state_dict()) for k, v in self.learner.nets.items()}
        self.pool.append({"frame": self.learner.frame, "nets": nets, "games": 0, "learner_wins": 0})
        self.pool = self.pool[-self.algo_spec.last_k:]
        self.last_snapshot = self.learner.frame
        if self.current >= 0:
            self.current = min(self.current, len(self.pool) - 1)

    def weights(self) -> np.ndarray:
        """The probability of drawing each snapshot, by the spec's rule."""
        n, rule = len(self.pool), self.algo_spec.pool
        if rule == "latest":
            return np.eye(n)[-1]
        if rule == "uniform":
            return np.full(n, 1.0 / n)
        # prioritized: snapshots the learner beats least; an unplayed one counts as a coin flip
        win = np.array([(p["learner_wins"] + 0.5) / (p["games"] + 1.0) for p in self.pool])
        w = (1.0 - win) ** self.algo_spec.priority_power + 1e-6
        return w / w.sum()

    def draw(self) -> None:
        self.current = int(self.rng.choice(len(self.pool), p=self.weights()))
        for k, state in self.pool[self.current]["nets"].items():
            self.player.nets[k].load_state_dict(state)

    # --- the loop -----------------------------------------------------------------------------

    def act(self, state: np.ndarray) -> np.ndarray:
        self.player.frame = self.learner.frame  # explore on the learner's schedule (epsilon, temperature)
        return self.player.act(state)

    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        return self.player.act_greedy(state)

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int) -> None:
        self.frame = frame
        self.env_steps += 1
        self.game_return += float(np.mean(reward))
        if self.learner.frame - self.last_snapshot >= self.algo_spec.snapshot_frequency:
            self.snapshot()
        if np.any(terminated | truncated):  # a game ended: score it, then draw the next opponent
            played = self.pool[self.current]
            played["games"] += 1
            played["learner_wins"] += int(self.game_return < 0)
            self.game_return = 0.0
            self.draw()

    def train(self) -> TrainStats:
        return {}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["pool"] = {str(i): {"frame": torch.tensor(p["frame"]), "games": torch.tensor(p["games"]),
                                  "learner_wins": torch.tensor(p["learner_wins"]), "nets": p["nets"]}
                         for i, p in enumerate(self.pool)}
        return state

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        super().load_state_dict(state, weights_only)
        self.pool = [{"frame": int(p["frame"]), "games": int(p["games"]), "learner_wins": int(p["learner_wins"]), "nets": p["nets"]}
                     for _, p in sorted(state.get("pool", {}).items(), key=lambda kv: int(kv[0]))]
        if self.pool and self.player is not None:
            self.draw()

    def use(self, index: int) -> None:
        """Play as pool snapshot `index` from now on (evaluation against a fixed earlier self)."""
        self.current = index % len(self.pool)
        for k, state in self.pool[self.current]["nets"].items():
            self.player.nets[k].load_state_dict(state)
