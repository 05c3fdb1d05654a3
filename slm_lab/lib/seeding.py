"""Deterministic seeds: session seed = f(spec seed, trial index, session index).

Derived through numpy's SeedSequence so neighbouring indices give unrelated streams, and
recorded in the saved spec. Never time-based.
"""

from __future__ import annotations

import random

import numpy as np


def derive_seed(spec_seed: int, trial: int, session: int) -> int:
    """A 31-bit seed for one session, a pure function of its coordinates."""
    return int(np.random.SeedSequence([spec_seed, trial, session]).generate_state(1)[0] >> 1)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch global generators for one session process."""
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
