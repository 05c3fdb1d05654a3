"""Peak resident memory of a whole run: the lab against Stable-Baselines3, side by side.

Each contestant runs as a subprocess; its process tree (the command and every process it starts,
e.g. a trial's spawned sessions) is sampled every 50 ms from /proc and the largest sum of the
tree's resident set sizes is reported, and the largest sum of their proportional set sizes
(PSS: a page shared by k processes of the tree, such as libtorch's code mapped by the trial and
by each session, counts 1/k in each, so the sum is what the tree costs the machine; for one
process it is about its RSS). Runs alternate lab / SB3 over --repeats.

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


def _kib_field(path: str, key: str) -> int:
    """A `key: <n> kB` line of a /proc file, in bytes; 0 once the process is gone."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rss(pid: int) -> int:
    return _kib_field(f"/proc/{pid}/status", "VmRSS:")


def _pss(pid: int) -> int:
    return _kib_field(f"/proc/{pid}/smaps_rollup", "Pss:")


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS sum, PSS sum) of a process tree, in bytes."""
    pids = _tree(pid)
    return sum(_rss(p) for p in pids), sum(_pss(p) for p in pids)


def peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(peak tree RSS in MiB, peak tree PSS in MiB, wall seconds) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    while proc.poll() is None:
        rss, pss = tree_memory(proc.pid)
        peak, peak_pss = max(peak, rss), max(peak_pss, pss)
        time.sleep(0.05)
    err = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err[-1500:]}")
    return peak / MIB, peak_pss / MIB, time.perf_counter() - start


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
    lab, sb3, lab_pss, sb3_pss = [], [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="slm_mem_") as data:
            env = {**os.environ, "SLM_LAB_DATA_DIR": data}
            mib, pss, wall = peak_of(lab_cmd(args.case, args.frames, args.sessions), env)
            lab.append(mib)
            lab_pss.append(pss)
            print(f"lab  {args.case} x{args.sessions}: peak RSS {mib:.0f} MiB, PSS {pss:.0f} MiB ({wall:.1f} s)", flush=True)
        if not args.lab_only:
            mib, pss, wall = peak_of(sb3_cmd(args.case, args.frames), dict(os.environ))
            sb3.append(mib)
            sb3_pss.append(pss)
            print(f"sb3  {args.case}: peak RSS {mib:.0f} MiB, PSS {pss:.0f} MiB ({wall:.1f} s)", flush=True)
    med = statistics.median
    for kind, a, b in (("RSS", lab, sb3), ("PSS", lab_pss, sb3_pss)):
        line = f"lab peak {kind} MiB: median {med(a):.0f} (min {min(a):.0f}, max {max(a):.0f})"
        if b:
            line += f"; sb3 median {med(b):.0f}; lab / sb3 {med(a) / med(b):.2f}"
        print(line)


if __name__ == "__main__":
    main()
