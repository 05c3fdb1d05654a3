"""Plugin components for the tests, named in specs as `tests.api.plugin_components:Class`."""

from __future__ import annotations

import os
from pathlib import Path

from slm_lab.agent.algorithm import DQN
from slm_lab.agent.net import MLPNet


class MarkerDQN(DQN):
    """DQN that proves it ran: each instance writes a marker named after its seed into the
    folder its spec's extra key `marker_dir` names, with the count of trainings so far."""

    def __init__(self, spec, spaces, max_frame, seed):
        super().__init__(spec, spaces, max_frame, seed)
        self.marker = Path(spec.algorithm.marker_dir) / f"seed_{seed}_pid_{os.getpid()}.txt"
        self.trainings = 0
        self.marker.write_text("built\n")

    def train(self):
        stats = super().train()
        if stats:
            self.trainings += 1
            self.marker.write_text(f"trained {self.trainings}\n")
        return stats


class WideMLP(MLPNet):
    """An MLPNet plugin whose hidden layers are doubled (a net the spec names by module:Class)."""

    def __init__(self, spec, in_dim, out_dims, *args, **kwargs):
        spec = spec.model_copy(update={"hid_layers": [2 * h for h in spec.hid_layers]})
        super().__init__(spec, in_dim, out_dims, *args, **kwargs)


class NotAnAlgorithm:
    """A class of the wrong base for an algorithm."""
