"""Resident memory of a 1M-transition Atari replay memory (AtariReplay: uint8, each frame stored once).

Fills slm_lab.agent.memory.atari.AtariReplay (max_size 1M) with synthetic 4 x 84 x 84 uint8
observations from several bodies, episodes of --episode-len steps, and reads the process's
resident set size (VmRSS) before and after. The ring's pages are mapped only as they are
written, so by default it fills --transitions (250k) and extrapolates the measured bytes per
transition to 1M, saying so; `--transitions 1000000` fills the whole ring (~7 GB of RAM).
Target: under 8 GiB for 1M transitions.

    python bench/memory.py [--transitions 250000] [--bodies 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

GIB = 2 ** 30
TARGET_GIB = 8.0


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    p = argparse.ArgumentParser(description="RSS of a 1M-transition AtariReplay.")
    p.add_argument("--transitions", type=int, default=250_000, help="transitions to write (the ring holds --max-size)")
    p.add_argument("--max-size", type=int, default=1_000_000)
    p.add_argument("--bodies", type=int, default=8)
    p.add_argument("--episode-len", type=int, default=1000)
    args = p.parse_args()

    from slm_lab.agent.memory.atari import AtariReplay
    from slm_lab.spec.schema import AtariReplaySpec

    rng = np.random.default_rng(0)
    b, k = args.bodies, 4
    pool = rng.integers(0, 256, (64, b, k, 84, 84), dtype=np.uint8)  # cycled: page-touching is what counts
    actions = np.zeros(b, dtype=np.int64)
    rewards = np.zeros(b, dtype=np.float32)
    memory = AtariReplay(AtariReplaySpec(max_size=args.max_size, batch_size=32), rng)
    base = rss_bytes()
    steps = args.transitions // b
    t0 = time.perf_counter()
    for t in range(steps):
        done = np.full(b, (t + 1) % args.episode_len == 0)
        memory.add(pool[t % 64], actions, rewards, pool[(t + 1) % 64], done, np.zeros(b, dtype=bool))
    fill_s = time.perf_counter() - t0
    batch = memory.sample()  # a sample works on what was written
    assert batch["states"].shape == (32, k, 84, 84) and batch["states"].dtype.is_floating_point is False
    used = rss_bytes() - base
    held = len(memory)
    per_transition = used / held
    full = per_transition * args.max_size
    extrapolated = held < args.max_size
    print(f"AtariReplay max_size {args.max_size}, {b} bodies, 4x84x84 uint8 obs, episodes of {args.episode_len} steps")
    print(f"  wrote {held} transitions in {fill_s:.1f} s; RSS grew {used / GIB:.2f} GiB = {per_transition:.0f} bytes/transition "
          f"(vs {k * 84 * 84 * 2} for s and s' stored whole)")
    print(f"  layout once full: {memory.bytes_per_transition():.0f} bytes/transition -> "
          f"{memory.bytes_per_transition() * args.max_size / GIB:.2f} GiB for {args.max_size}")
    print(f"  resident for {args.max_size} transitions: {full / GIB:.2f} GiB"
          f"{' (extrapolated from ' + str(held) + ' written)' if extrapolated else ' (measured, ring full)'}; "
          f"target < {TARGET_GIB} GiB {'met' if full / GIB < TARGET_GIB else 'NOT met'}")


if __name__ == "__main__":
    main()
