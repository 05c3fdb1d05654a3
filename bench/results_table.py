"""Markdown result tables for docs/BENCHMARKS.md, generated from run folders (never typed by hand).

    .venv/bin/python bench/results_table.py data/ppo_cartpole_2026_11_25_* data/dqn_cartpole_* > /tmp/tables.md

One table per environment family. Per run: the trial's final return moving average (mean and
sd over sessions), how many sessions reached the solved threshold (Gymnasium's definition of
solved: the 100-episode moving average reaches the env's reward threshold) and how many still
stand there at the end of the run, the median frames to reach it (sample efficiency), the
budget, the wall time of the slowest session on this machine, the published reference
numbers, and the command that reproduces the run.
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
        if any(p in env_name for p in prefixes):
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


def budget_overrides(spec_file: str, spec: dict[str, Any]) -> str:
    """` -s env.N.max_frame=X` for each env whose run budget differs from the shipped spec's,
    so the reproduce command gives the run that was measured."""
    shipped = json.loads((SHIPPED_SPEC_DIR / spec_file).read_text())[spec["name"]]["env"]
    shipped = shipped if isinstance(shipped, list) else [shipped]
    return "".join(f" -s env.{i}.max_frame={env['max_frame']}" for i, (env, mine) in enumerate(zip(spec["env"], shipped))
                   if env.get("max_frame") != mine.get("max_frame"))


def run_rows(run_dir: Path, refs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (agent, env) pair of the run: a single row for one agent in one env."""
    spec = json.loads((run_dir / "spec.json").read_text())
    pairs = sorted({p.name for p in run_dir.glob("session_*/a*_e*") if p.is_dir()})
    if not pairs:
        return [run_row(run_dir, spec, refs, 0, 0, "")]
    return [run_row(run_dir, spec, refs, int(label[1:label.index("_")]), int(label.rsplit("_e", 1)[1]), label) for label in pairs]


def run_row(run_dir: Path, spec: dict[str, Any], refs: dict[str, Any], a: int, e: int, pair: str) -> dict[str, Any]:
    env = spec["env"][e]
    algo = spec["agent"][a]["algorithm"]["name"]
    if spec["agent"][a]["memory"]["name"] == "PrioritizedReplay":
        algo += "+PER"
    solved = refs.get("solved", {}).get(env["name"])
    finals, to_solve, walls, n_held, randoms = [], [], [], 0, []
    sessions = sorted(run_dir.glob("session_*"))
    for s in sessions:
        train = s / pair / "train.csv"
        if not train.is_file():
            continue
        df = pd.read_csv(train)
        ma = df["return_ma"].dropna()
        if ma.empty:
            continue
        finals.append(float(ma.iloc[-1]))
        metrics = s / pair / "metrics.json"
        if metrics.is_file() and json.loads(metrics.read_text()).get("random_baseline") is not None:
            randoms.append(float(json.loads(metrics.read_text())["random_baseline"]))
        walls.append(float(df["wall_t"].iloc[-1]))
        if solved is not None:
            n_held += int(ma.iloc[-1] >= solved)
            hit = df[df["return_ma"] >= solved]
            if len(hit):
                to_solve.append(int(hit["frame"].iloc[0]))
    iqm = "n/a"
    trial_file = run_dir / pair / "trial_metrics.json"
    if trial_file.is_file():
        t = json.loads(trial_file.read_text()).get("trial", {})
        if t.get("final_return_iqm") is not None:
            iqm = f"{t['final_return_iqm']:.1f} [{t['final_return_iqm_ci_low']:.1f}, {t['final_return_iqm_ci_high']:.1f}]"
    spec_file = shipped_spec_file(spec["name"])
    published = []
    for key, source in refs.get("sources", {}).items():
        entry = source.get("results", {}).get(algo, {}).get(env["name"])
        if entry:
            published.append(f"{source.get('title', key)}: {entry['return']:g}")
    return {
        "family": family(env["name"]),
        "spec": f"{spec['name']} {pair}".strip(),
        "env": env["name"],
        "final": f"{statistics.mean(finals):.1f} ± {statistics.stdev(finals):.1f}" if len(finals) > 1 else (f"{finals[0]:.1f}" if finals else "n/a"),
        "iqm": iqm,
        "random": f"{randoms[0]:.2f}" if randoms else "n/a",
        # Gym's "solved": the 100-episode moving average reached the threshold; "held": it ends there too
        "solved": f"{len(to_solve)}/{len(sessions)} / {n_held}/{len(sessions)}" if solved is not None else "n/a",
        "to_solve": f"{int(statistics.median(to_solve)):,}" if to_solve else "—",
        "budget": f"{env['max_frame']:,}",
        "sessions": str(len(sessions)),
        "wall": f"{max(walls):.0f}" if walls else "n/a",
        "published": "; ".join(published) or "—",
        "command": f"`slm-lab run {spec_file} {spec['name']} train{budget_overrides(spec_file, spec)}`" if spec_file else f"`{run_dir.name}`",
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    header = ("| spec | env | final return_ma (mean ± sd) | final greedy eval, IQM [95% CI] | random policy | sessions solved: reached / held to the end | median frames to solve | budget (frames) "
              "| sessions | slowest session wall (s) | published | reproduce |")
    lines: list[str] = []
    for fam, _ in [*FAMILIES, ("Other", ())]:
        fam_rows = [r for r in rows if r["family"] == fam]
        if not fam_rows:
            continue
        lines += [f"### {fam}", "", header, "|" + "---|" * 12]
        for r in fam_rows:
            lines.append(f"| {r['spec']} | {r['env']} | {r['final']} | {r['iqm']} | {r['random']} | {r['solved']} | {r['to_solve']} | {r['budget']} "
                         f"| {r['sessions']} | {r['wall']} | {r['published']} | {r['command']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    args = parser.parse_args()
    refs = load_references()
    rows = [row for d in args.run_dirs if (d / "spec.json").is_file() for row in run_rows(d, refs)]
    print(markdown(rows))


if __name__ == "__main__":
    main()
