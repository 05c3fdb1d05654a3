"""Start-up time of the CLI: `slm-lab --help` and `slm-lab check <spec>` (target < 1.5 s).

Times each command as a whole process (median of --repeats), then runs it once under
`python -X importtime` and reports whether torch, ray or plotly were imported on that path
(they must not be), and whether gymnasium or pandas were (allowed: `check` imports gymnasium
inside a function to validate env ids).

    python bench/startup.py [--repeats 5] [--spec slm_lab/spec/benchmark/ppo/ppo_cartpole.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.5
FORBIDDEN = ("torch", "ray", "plotly")  # the rule for these paths
# allowed but reported: `check` imports gymnasium inside spec/loader.py to validate env ids
HEAVY = (*FORBIDDEN, "gymnasium", "pandas")


def cli_cmd(args: list[str]) -> list[str]:
    # the console script is a tiny wrapper around slm_lab.cli:app; calling it directly is what a user runs
    return [str(Path(sys.executable).parent / "slm-lab"), *args]


def time_cmd(cmd: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-500:]}")
    return times


def heavy_imports(args: list[str]) -> tuple[list[str], float]:
    """Top-level heavy packages imported, and the cumulative import time (s) of slm_lab.cli."""
    code = "import sys; from slm_lab.cli import app; sys.argv = ['slm-lab', *sys.argv[1:]]; app()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    found, cli_us = set(), 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.split("|"))
        if name.split(".")[0] in HEAVY and name.strip() == name.split(".")[0]:
            found.add(name)
        if name == "slm_lab.cli":
            cli_us = int(cumulative)
    return sorted(found), cli_us / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description="Time slm-lab --help and slm-lab check.")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--spec", default="slm_lab/spec/benchmark/ppo/ppo_cartpole.json")
    args = p.parse_args()
    ok = True
    for label, cli_args in (("slm-lab --help", ["--help"]), (f"slm-lab check {args.spec}", ["check", args.spec])):
        times = time_cmd(cli_cmd(cli_args), args.repeats)
        heavy, cli_import_s = heavy_imports(cli_args)
        med = statistics.median(times)
        forbidden = [h for h in heavy if h in FORBIDDEN]
        met = med < TARGET_S and not forbidden
        ok &= met
        print(f"{label}: min/median/max {min(times):.2f} / {med:.2f} / {max(times):.2f} s over {args.repeats} runs; "
              f"import slm_lab.cli {cli_import_s:.2f} s; torch/ray/plotly imported: {', '.join(forbidden) or 'none'}; "
              f"other heavy: {', '.join(h for h in heavy if h not in FORBIDDEN) or 'none'}; "
              f"target < {TARGET_S} s {'met' if met else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
