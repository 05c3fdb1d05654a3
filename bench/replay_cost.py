"""The replay memory's cost per frame as it grows: how much a DQN-family step pays for its memory
holding 10k, 100k or 1M transitions (CartPole-sized: 4 floats of state, 4 bodies per add).

For each size the ring is first filled to capacity, then `--steps` steps are timed, each the
memory work of one training step at training_frequency 1: add one vector step (4 bodies), sample
a batch of 64 as torch tensors, and for PrioritizedReplay write back the batch's new priorities.
Figures are medians over `--repeats`, with min / max.

    python bench/replay_cost.py [--sizes 10000 100000 1000000] [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from slm_lab.agent.memory.prioritized import PrioritizedReplay
from slm_lab.agent.memory.replay import Replay
from slm_lab.spec.schema import PrioritizedReplaySpec, ReplaySpec

BODIES, OBS = 4, 4


def vector_step(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    state = rng.normal(size=(BODIES, OBS)).astype(np.float32)
    return (state, rng.integers(0, 2, BODIES), np.ones(BODIES, np.float32), state + 0.01,
            rng.random(BODIES) < 0.02, np.zeros(BODIES, bool))


def filled(kind: str, size: int, rng: np.random.Generator) -> Replay:
    memory = (PrioritizedReplay(PrioritizedReplaySpec(max_size=size), rng) if kind == "PrioritizedReplay"
              else Replay(ReplaySpec(max_size=size), rng))
    chunk = 4096  # fill with wide adds (the memory takes any number of bodies per add)
    for _ in range(size // chunk + 1):
        state = rng.normal(size=(chunk, OBS)).astype(np.float32)
        memory.add(state, rng.integers(0, 2, chunk), np.ones(chunk, np.float32), state, np.zeros(chunk, bool),
                   np.zeros(chunk, bool))
    return memory


def time_steps(memory: Replay, steps: int, rng: np.random.Generator) -> float:
    """Microseconds of memory work per frame (a vector step of BODIES frames)."""
    prioritized = isinstance(memory, PrioritizedReplay)
    t0 = time.perf_counter()
    for _ in range(steps):
        memory.add(*vector_step(rng))
        batch = memory.sample()
        if prioritized:
            memory.update_priorities(batch["idx"], torch.rand(len(batch["idx"])))
    return (time.perf_counter() - t0) / (steps * BODIES) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"memory work per frame (add a {BODIES}-body step + sample 64 [+ priorities]), median [min, max] "
          f"of {args.repeats} x {args.steps} steps")
    for kind in ("Replay", "PrioritizedReplay"):
        base = None
        for size in args.sizes:
            rng = np.random.default_rng(0)
            memory = filled(kind, size, rng)
            times = [time_steps(memory, args.steps, rng) for _ in range(args.repeats)]
            med = statistics.median(times)
            base = base or med
            print(f"  {kind:17s} {size:>9,d} transitions: {med:6.2f} us/frame [{min(times):.2f}, {max(times):.2f}], "
                  f"{med / base:.2f}x the {args.sizes[0]:,d} figure", flush=True)


if __name__ == "__main__":
    main()
