"""Peak resident memory of a whole run: the lab against Stable-Baselines3, side by side.

Each contestant runs as a subprocess; its process tree (the command and every process it starts,
e.g. a trial's spawned sessions) is sampled every 50 ms from /proc and the largest sum of the
tree's resident set sizes is reported. Runs alternate lab / SB3 over --repeats.

    python bench/peak_memory.py --case ppo_cartpole --frames 30000 --repeats 2
    python bench/peak_memory.py --case ppo_cartpole --frames 30000 --sessions 4 --lab-only

Needs the bench extra for SB3 (pip install --no-deps 'stable-baselines3==2.9.2').
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
MIB = 2 ** 20


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _rss(p)
        todo += _children(p)
    return total


def peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak tree RSS in MiB, wall seconds) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err[-1500:]}")
    return peak / MIB, time.perf_counter() - start


def lab_cmd(case: str, frames: int, sessions: int) -> list[str]:
    sys.path.insert(0, str(BENCH))
    from throughput import SPEC_FILE, lab_overrides  # the same settings as the throughput bench

    cmd = [str(Path(sys.executable).parent / "slm-lab"), "run", str(SPEC_FILE), case, "train"]
    for s in lab_overrides(case, frames, 0) + [f"meta.max_session={sessions}"]:
        cmd += ["-s", s]
    return cmd


def sb3_cmd(case: str, frames: int) -> list[str]:
    return [sys.executable, str(BENCH / "throughput.py"), "--worker", "sb3", "--case", case, "--frames", str(frames),
            "--seed", "0", "--sb3-threads", "1"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="ppo_cartpole")
    p.add_argument("--frames", type=int, default=30_000)
    p.add_argument("--sessions", type=int, default=1)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--lab-only", action="store_true")
    args = p.parse_args()
    lab, sb3 = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="slm_mem_") as data:
            env = {**os.environ, "SLM_LAB_DATA_DIR": data}
            mib, wall = peak_of(lab_cmd(args.case, args.frames, args.sessions), env)
            lab.append(mib)
            print(f"lab  {args.case} x{args.sessions}: peak {mib:.0f} MiB ({wall:.1f} s)", flush=True)
        if not args.lab_only:
            mib, wall = peak_of(sb3_cmd(args.case, args.frames), dict(os.environ))
            sb3.append(mib)
            print(f"sb3  {args.case}: peak {mib:.0f} MiB ({wall:.1f} s)", flush=True)
    line = f"lab peak MiB: median {statistics.median(lab):.0f} (min {min(lab):.0f}, max {max(lab):.0f})"
    if sb3:
        ratio = statistics.median(lab) / statistics.median(sb3)
        line += f"; sb3 median {statistics.median(sb3):.0f}; lab / sb3 {ratio:.2f}"
    print(line)


if __name__ == "__main__":
    main()
