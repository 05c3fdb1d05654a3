"""Markdown result tables for docs/BENCHMARKS.md, generated from run folders (never typed by hand).

    .venv/bin/python bench/results_table.py data/ppo_cartpole_2026_11_25_* data/dqn_cartpole_* > /tmp/tables.md

One table per environment family. Per run: the trial's final return moving average (mean and
sd over sessions), how many sessions reached the solved threshold, the median frames to reach
it (sample efficiency), the budget, the wall time of the slowest session on this machine, the
published reference numbers, and the command that reproduces the run.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from slm_lab.control.benchmark import load_references
from slm_lab.spec.loader import SHIPPED_SPEC_DIR

FAMILIES = [
    ("Classic control", ("CartPole", "Acrobot", "Pendulum", "MountainCar")),
    ("Box2D", ("LunarLander", "BipedalWalker")),
    ("MuJoCo", ("HalfCheetah", "Hopper", "Walker", "Ant", "Humanoid")),
    ("Atari", ("ALE/",)),
    ("Unity SLM-Env", ("unity:",)),
    ("PettingZoo", ("pettingzoo:",)),
]


def family(env_name: str) -> str:
    for name, prefixes in FAMILIES:
        if any(env_name.startswith(p) for p in prefixes):
            return name
    return "Other"


def shipped_spec_file(spec_name: str) -> str | None:
    """The shipped spec file that defines `spec_name`, relative to slm_lab/spec/."""
    for path in sorted(SHIPPED_SPEC_DIR.rglob("*.json")):
        try:
            if spec_name in json.loads(path.read_text()):
                return str(path.relative_to(SHIPPED_SPEC_DIR))
        except (json.JSONDecodeError, AttributeError, TypeError):
            continue
    return None


def run_row(run_dir: Path, refs: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads((run_dir / "spec.json").read_text())
    env = spec["env"][0]
    algo = spec["agent"][0]["algorithm"]["name"]
    if spec["agent"][0]["memory"]["name"] == "PrioritizedReplay":
        algo += "+PER"
    solved = refs.get("solved", {}).get(env["name"])
    finals, to_solve, walls, n_solved = [], [], [], 0
    sessions = sorted(run_dir.glob("session_*"))
    for s in sessions:
        train = s / "train.csv"
        if not train.is_file():
            continue
        df = pd.read_csv(train)
        ma = df["return_ma"].dropna()
        if ma.empty:
            continue
        finals.append(float(ma.iloc[-1]))
        walls.append(float(df["wall_t"].iloc[-1]))
        if solved is not None:
            n_solved += int(ma.iloc[-1] >= solved)
            hit = df[df["return_ma"] >= solved]
            if len(hit):
                to_solve.append(int(hit["frame"].iloc[0]))
    spec_file = shipped_spec_file(spec["name"])
    published = []
    for key, source in refs.get("sources", {}).items():
        entry = source.get("results", {}).get(algo, {}).get(env["name"])
        if entry:
            published.append(f"{source.get('title', key)}: {entry['return']:g}")
    return {
        "family": family(env["name"]),
        "spec": spec["name"],
        "env": env["name"],
        "final": f"{statistics.mean(finals):.1f} ± {statistics.stdev(finals):.1f}" if len(finals) > 1 else (f"{finals[0]:.1f}" if finals else "n/a"),
        "solved": f"{n_solved}/{len(sessions)}" if solved is not None else "n/a",
        "to_solve": f"{int(statistics.median(to_solve)):,}" if to_solve else "—",
        "budget": f"{env['max_frame']:,}",
        "sessions": str(len(sessions)),
        "wall": f"{max(walls):.0f}" if walls else "n/a",
        "published": "; ".join(published) or "—",
        "command": f"`slm-lab run {spec_file} {spec['name']} train`" if spec_file else f"`{run_dir.name}`",
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    header = ("| spec | env | final return_ma (mean ± sd) | sessions solved | median frames to solve | budget (frames) "
              "| sessions | slowest session wall (s) | published | reproduce |")
    lines: list[str] = []
    for fam, _ in [*FAMILIES, ("Other", ())]:
        fam_rows = [r for r in rows if r["family"] == fam]
        if not fam_rows:
            continue
        lines += [f"### {fam}", "", header, "|" + "---|" * 10]
        for r in fam_rows:
            lines.append(f"| {r['spec']} | {r['env']} | {r['final']} | {r['solved']} | {r['to_solve']} | {r['budget']} "
                         f"| {r['sessions']} | {r['wall']} | {r['published']} | {r['command']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    refs = load_references()
    rows = [run_row(d, refs) for d in args.run_dirs if (d / "spec.json").is_file()]
    print(markdown(rows))


if __name__ == "__main__":
    main()
