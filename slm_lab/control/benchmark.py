"""Benchmark: one spec over a standard set of envs (its `spec_params`), one trial each.

    {"a2c_classic": {
       "agent": [...], "env": [{"name": "${env}", ...}], "meta": {...},
       "spec_params": {"env": ["CartPole-v1", "Acrobot-v1"]}}}

Each combination of the `spec_params` lists fills the `${...}` placeholders and becomes one
trial; the trials run on Ray Tune like a search's (control/experiment.py: in parallel where
the CPUs allow, on a cluster with --ray-address), and `benchmark.md` puts each env's trial
metrics next to published results (benchmark_references.json beside this file).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from slm_lab.lib import io, pids
from slm_lab.lib.layout import ExperimentLayout, RunLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_env_names, load_spec, read_spec_file, spec_param_variants
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

REFERENCES_FILE = Path(__file__).with_name("benchmark_references.json")
TABLE_METRICS = ("final_return_ma", "strength", "sample_efficiency", "stability", "consistency")


def prepare_benchmark(spec_file: str, spec_name: str, overrides: list[str] | None = None,
                      variables: dict[str, Any] | None = None) -> list[Spec]:
    """The validated spec of each benchmark trial; each records its values in meta.resolved.spec_params."""
    specs = read_spec_file(spec_file)
    if spec_name not in specs:
        raise SpecError(f"spec '{spec_name}' not found in {spec_file} (available: {', '.join(specs)})")
    raw = specs[spec_name]
    if not raw.get("spec_params"):
        raise SpecError(f"{spec_name}: benchmark mode needs spec_params, like "
                        "\"spec_params\": {\"env\": [\"CartPole-v1\", \"Acrobot-v1\"]} with \"${env}\" in the spec")
    out = []
    for values in spec_param_variants(raw, where=spec_name):
        spec = load_spec(spec_file, spec_name, overrides, {**(variables or {}), **values}, mode="benchmark")
        check_env_names(spec, where=spec_name)
        resolved = {**spec.meta.resolved, "spec_params": values}
        out.append(spec.model_copy(update={"meta": spec.meta.model_copy(update={"resolved": resolved})}))
    return out


def run_benchmark(specs: list[Spec], address: str | None = None) -> dict[str, Any]:
    """Run every benchmark trial on Ray Tune, then write benchmark.md in the benchmark folder."""
    from slm_lab.control.ray_cluster import PASSED_ENV, check_ray_address
    from slm_lab.control.search_plan import Plan
    from slm_lab.control.tune_trials import run_on_ray

    check_ray_address(address)
    name = specs[0].name
    from slm_lab.control.preflight import start_run_dir  # a data dir that cannot take it: one line, nothing made

    exp_dir = start_run_dir(name)
    setup_logging(logging.INFO, RunLayout(exp_dir).log_txt)
    trials = {}
    for i, spec in enumerate(specs):
        values = spec.meta.resolved.get("spec_params", {})
        trials[i] = {"spec": spec.model_dump(mode="json"), "values": values}
    io.write_json(ExperimentLayout(exp_dir).benchmark_specs_json, {ExperimentLayout(exp_dir).trial(i).dir.name: t["spec"]
                                                                  for i, t in trials.items()})
    env = {k: str(Path(os.environ[k]).resolve()) for k in PASSED_ENV if os.environ.get(k)}
    level = logging.getLogger("slm_lab").getEffectiveLevel()
    plan = Plan(str(exp_dir.resolve()), name, [], {}, {}, trials=trials, env=env, log_level=level)
    logger.info(f"benchmark {name}: {len(specs)} trial(s) over {', '.join(sorted(trials[0]['values']))}")
    with pids.registered("experiment", exp_dir):  # `slm-lab kill` finds the driver
        rows = sorted(run_on_ray(specs[0], plan, address, early_stopping=False), key=lambda r: r["trial"])
    for row in rows:
        row["env"] = specs[row["trial"]].env[0].name
    text = benchmark_markdown(name, specs, rows, load_references())
    io.write_text(exp_dir / "benchmark.md", text)
    logger.info(f"benchmark {name} done: {exp_dir / 'benchmark.md'}")
    result = {"kind": "benchmark", "name": name, "run_dir": str(exp_dir), "rows": rows,
              "search_keys": list(trials[0]["values"]), "benchmark_md": str(exp_dir / "benchmark.md")}
    if not plan.complete():  # Ctrl-C: Tune stopped trials it never reported
        result["interrupted"] = True
    return result


# --- the table -----------------------------------------------------------------------------


def load_references(path: Path = REFERENCES_FILE) -> dict[str, Any]:
    return io.read_json(path)


def reference_key(spec: Spec) -> str:
    """How references name this spec's algorithm: the lab's name, '+PER' with prioritized replay."""
    agent = spec.agent[0]
    name = agent.algorithm.name
    return f"{name}+PER" if agent.memory.name == "PrioritizedReplay" else name


def _num(value: Any, digits: int = 1) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"


def _frames(n: Any) -> str:
    if not isinstance(n, (int, float)):
        return ""
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k" if n >= 1e3 else str(int(n))


def _reference_cell(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "–"
    text = _num(entry["return"])
    if "std" in entry:
        text += f" ± {_num(entry['std'])}"
    if "frames" in entry:
        text += f" ({_frames(entry['frames'])})"
    return text


def _iqm_cell(row: dict[str, Any]) -> str:
    iqm = row.get("final_return_iqm")
    if not isinstance(iqm, (int, float)) or not math.isfinite(iqm):
        return "–"
    low, high = row.get("final_return_iqm_ci_low"), row.get("final_return_iqm_ci_high")
    return f"{_num(iqm)} [{_num(low)}, {_num(high)}]"


def benchmark_markdown(name: str, specs: list[Spec], rows: list[dict[str, Any]], refs: dict[str, Any]) -> str:
    """benchmark.md: one row per trial (env), the lab's metrics then the published references."""
    sources = refs.get("sources", {})
    algo = reference_key(specs[0])
    param_keys = list(specs[0].meta.resolved.get("spec_params", {}))
    head = [*param_keys, "status", "frames", "sessions", "final return IQM [95% CI]",
            *TABLE_METRICS, "solved at", *(s["title"] for s in sources.values()), "trial"]
    lines = [f"# Benchmark: {name}", "",
             f"Algorithm {specs[0].agent[0].algorithm.name} (memory {specs[0].agent[0].memory.name}), "
             f"{specs[0].meta.max_session} session(s) per trial; written "
             f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        spec = specs[row["trial"]]
        env = spec.env[0].name
        values = spec.meta.resolved.get("spec_params", {})
        cells = [json.dumps(values[k]) if not isinstance(values[k], str) else values[k] for k in param_keys]
        cells += [row["status"], _frames(spec.env[0].max_frame), str(row.get("num_sessions", "–")), _iqm_cell(row)]
        cells += [_num(row.get(m), 1 if m in ("final_return_ma", "strength") else 3) for m in TABLE_METRICS]
        cells.append(_num(refs.get("solved", {}).get(env)))
        key = reference_key(spec)
        cells += [_reference_cell(s.get("results", {}).get(key, {}).get(env)) for s in sources.values()]
        cells.append(f"[{row['trial_dir']}]({row['trial_dir']}/report.html)")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "How to read it: final return IQM is the interquartile mean of the sessions' final greedy eval "
              "returns with a bootstrap 95% CI; final_return_ma is the training-return moving average at the end; "
              "strength is the mean eval margin over a random policy (docs/METRICS.md).", "",
              f"References for {algo} (exact env ids; '–' = none published). They were measured differently "
              "and often for more frames, so read them as a bar, not a like-for-like score:", ""]
    lines += [f"- {s['title']}: {s['measure']}" for s in sources.values()]
    if refs.get("solved_note"):
        lines.append(f"- solved at: {refs['solved_note']}")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines += ["", "Trials that did not finish:", ""]
        lines += [f"- {r['trial_dir']} ({r['env']}): {r['status']} {r.get('error', '')}".rstrip() for r in failed]
    return "\n".join(lines) + "\n"
