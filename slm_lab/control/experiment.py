"""Experiment: a search over Trials, run on Ray Tune (DESIGN.md §2, docs/SEARCH.md).

    Experiment  = max_trial samples of the spec's search space, each a Trial
      Trial     = one concrete spec, max_session Sessions (slm_lab.control.trial.Trial)

Sampling (`meta.search`):
- `random`: drawn here, before Ray starts, from the spec seed (the same spec draws the same
  trials), with Ray Tune's own distributions; every grid_search combination is crossed with
  `max_trial` draws of the other keys (Ray Tune's meaning of num_samples). Tune then runs the
  fixed list.
- `optuna`: Optuna's TPE sampler (Bergstra et al., "Algorithms for Hyper-Parameter
  Optimization", NeurIPS 2011) through `ray.tune.search.optuna.OptunaSearch`: each new trial
  is drawn from what the finished ones scored (strength).

Early stopping (`meta.search_scheduler: "asha"`): Asynchronous Successive Halving (Li et al.,
"A System for Massively Parallel Hyperparameter Tuning", MLSys 2020) on frames, comparing
trials by their training return moving average. Trials report it while they run through the
Trial's progress hook.

Resuming (`search@<experiment dir>`, control/search_resume.py): the driver records the plan
of drawn trials before Ray starts and each trial's result as Tune reports it
(control/search_state.py); a resume keeps the trials with a result and runs the others through
Ray again, continuing those with a folder from their session checkpoints.

Sessions inside a Ray trial run as in train mode (one session in-process, several in a
spawn pool bounded by the CPUs); a trial reserves `meta.max_session` CPUs (or
`meta.search_resources.cpu`), at most what the largest node has. A trial that Tune stops
(ASHA, Ctrl-C) ends its session processes before it exits.

The parts: search_plan.py (the Plan every worker gets), tune_trials.py (trials as Tune
trainables, early-stopping progress, result rows), searchers.py (trial numbering, Optuna) and
ray_cluster.py (starting or joining Ray). Only they and benchmark.py import ray, and only
inside functions: importing them is cheap.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from slm_lab.control import search_state
from slm_lab.control.ray_cluster import check_ray_address, quiet_ray_env, worker_env
from slm_lab.control.search_plan import METRIC_COLUMNS, Continuation, Plan, raw_from_values
from slm_lab.control.tune_trials import run_on_ray, scalar_metrics
from slm_lab.lib import io, pids
from slm_lab.lib.layout import ExperimentLayout, RunLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec
from slm_lab.spec.search import SearchParam, apply_sample, parse_search, sample_random

logger = get_logger(__name__)

SUMMARY_METRICS = ("strength", "final_return_ma", "final_return_iqm", "stability", "consistency")

__all__ = ["Continuation", "Plan", "finish_experiment", "rank", "run_experiment", "summary_table"]


# --- the experiment ------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished trials by strength (best first), then stopped, failed and invalid ones."""
    order = {"ok": 0, "stopped": 1, "error": 2, "invalid": 3}

    def key(row: dict[str, Any]) -> tuple[int, float, int]:
        s = row.get("strength", math.nan)
        finite = isinstance(s, (int, float)) and math.isfinite(s)
        return order.get(row["status"], 4), -(s if finite else -math.inf), row["trial"]

    return sorted(rows, key=key)


def experiment_frame(rows: list[dict[str, Any]], params: list[SearchParam]) -> Any:
    """experiment_df: one row per trial, its searched values (by path) and trial metrics, ranked."""
    import pandas as pd

    records = []
    for row in rank(rows):
        rec = {"trial": row["trial"], "status": row["status"]}
        rec.update({p.path: _cell(row["values"].get(p.key)) for p in params})
        rec.update({m: row.get(m, math.nan) for m in METRIC_COLUMNS})
        rec.update({"frame": row.get("frame", 0), "trial_dir": row["trial_dir"], "error": row.get("error", "")})
        records.append(rec)
    columns = ["trial", "status", *(p.path for p in params), *METRIC_COLUMNS, "frame", "trial_dir", "error"]
    return pd.DataFrame(records, columns=columns)


def plan_search(spec: Spec, exp_dir: Path, params: list[SearchParam]) -> tuple[Plan, list[dict[str, Any]]]:
    """The Plan of a search and the rows of drawn trials the schema refuses (not run)."""
    from slm_lab.spec.loader import validate

    raw = spec.model_dump(mode="json", exclude_unset=True)
    full = spec.model_dump(mode="json")
    plan = Plan(str(exp_dir.resolve()), spec.name, params, raw, full, env=worker_env(),
                log_level=logging.getLogger("slm_lab").getEffectiveLevel())
    invalid: list[dict[str, Any]] = []
    if spec.meta.search == "random":
        plan.trials = {}
        for index, values in enumerate(sample_random(params, spec.meta.max_trial, spec.meta.seed)):
            trial_raw = apply_sample(raw, full, values, params)
            trial_raw["name"] = spec.name
            try:
                validate(trial_raw)
            except SpecError as e:
                logger.warning(f"trial {index} not run: {e}")
                invalid.append({"trial": index, "status": "invalid", "values": values, "error": str(e),
                                "trial_dir": f"trial_{index}"})
                continue
            plan.trials[index] = {"spec": trial_raw, "values": values}
    return plan, invalid


def write_search_plan(spec: Spec, plan: Plan, invalid: list[dict[str, Any]]) -> None:
    """Record the plan before any trial runs: a resume runs exactly these trials (search_state.py)."""
    search_state.write_plan(plan.exp_dir, {
        "name": spec.name, "search": spec.meta.search, "max_trial": spec.meta.max_trial,
        "raw": plan.raw, "full": plan.full, "trials": plan.trials, "invalid": invalid})


def run_experiment(spec: Spec, address: str | None = None) -> dict[str, Any]:
    """Run a search: trials on Ray Tune, then experiment_df.csv, best_spec.json, graph and report."""
    check_ray_address(address)
    quiet_ray_env(address)  # sampling below imports ray
    params = parse_search(spec.search)
    if not params:
        raise SpecError(f"{spec.name}: search mode needs a search block (see docs/SEARCH.md)")
    from slm_lab.control.preflight import start_run_dir  # a data dir that cannot take it: one line, nothing made

    exp_dir = start_run_dir(spec.name)
    # one driver per experiment folder: a search@ resume is refused while this one runs
    with pids.run_lock(exp_dir), pids.registered("experiment", exp_dir):  # `slm-lab kill` finds the driver
        setup_logging(logging.INFO, ExperimentLayout(exp_dir).log_txt)
        io.write_json(ExperimentLayout(exp_dir).spec_json, spec.model_dump(mode="json"))
        plan, invalid = plan_search(spec, exp_dir, params)
        plan.resumable = True
        write_search_plan(spec, plan, invalid)
        rows = invalid + (run_on_ray(spec, plan, address) if plan.trials != {} else [])
        return finish_experiment(spec, plan, rows)


def finish_experiment(spec: Spec, plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from slm_lab.analysis import write_experiment_report

    exp_dir = Path(plan.exp_dir)
    for row in rows:
        if row["status"] == "stopped" and "strength" not in row:  # a kept row of a resume may be analyzed already
            _analyze_stopped(plan, row)
            if plan.resumable and row["trial"] in plan.final:  # stopped by the scheduler: keep the analysis too
                search_state.record_result(plan.exp_dir, row["trial"], row)
    df = experiment_frame(rows, plan.params)
    io.write_csv(ExperimentLayout(exp_dir).experiment_df_csv, df)
    ranked = rank(rows)
    # the best finished trial; when none finished (Ctrl-C early), the best of those stopped
    best = next((r for r in ranked
                 if r["status"] in ("ok", "stopped") and math.isfinite(r.get("strength", math.nan))), None)
    result: dict[str, Any] = {"kind": "search", "run_dir": str(exp_dir), "name": spec.name,
                              "search_keys": [p.key for p in plan.params], "rows": ranked,
                              "experiment_df": str(ExperimentLayout(exp_dir).experiment_df_csv)}
    if best is not None:
        best_raw = (plan.trials[best["trial"]]["spec"] if plan.trials is not None
                    else raw_from_values(plan, best["values"]))
        io.write_json(ExperimentLayout(exp_dir).best_spec_json, {spec.name: best_raw})
        result["best_spec"] = str(ExperimentLayout(exp_dir).best_spec_json)
        result["best_trial"] = best["trial"]
        if best["status"] != "ok":
            logger.warning(f"no trial finished: best_spec.json is stopped trial {best['trial']}, "
                           "ranked on the frames it ran")
    report = write_experiment_report(exp_dir, df, [p.key for p in plan.params], title=spec.name)
    result["report"] = str(report)
    done = sum(r["status"] == "ok" for r in rows)
    stopped = sum(r["status"] == "stopped" for r in rows)
    logger.info(f"search {spec.name} done: {done}/{len(rows)} trials finished"
                f"{f', {stopped} stopped before the end (early stopping or Ctrl-C)' if stopped else ''}; "
                f"best trial {best['trial'] if best else '-'}; results in {exp_dir}")
    if plan.complete():
        if plan.resumable:  # last: a search killed before this line can still be resumed
            search_state.mark_done(exp_dir, len(rows))
    else:  # Ctrl-C / SIGTERM: Tune stopped trials it never reported; search@ runs them
        result["interrupted"] = True
    return result


def _analyze_stopped(plan: Plan, row: dict[str, Any]) -> None:
    """A trial stopped early (ASHA, Ctrl-C) gets its trial metrics, graphs and report from the
    frames it ran, where its folder is on this machine; it stays ranked after finished trials."""
    from slm_lab.analysis import trial_end
    from slm_lab.control.trial import resolve_seeds
    from slm_lab.spec.loader import validate

    trial_dir = plan.trial_dir(row["trial"])
    dirs = [s.dir for s in RunLayout(trial_dir).sessions() if s.eval_csv.is_file()]
    if not dirs:
        return
    try:
        spec = resolve_seeds(validate(raw_from_values(plan, row["values"]) if plan.trials is None
                                      else plan.trials[row["trial"]]["spec"]), row["trial"])
        row.update(scalar_metrics(trial_end(trial_dir, spec, dirs, {})))
    except Exception:  # a half-written first checkpoint: the row keeps its frame, no metrics
        logger.warning(f"could not analyze stopped trial {row['trial']}", exc_info=True)


# --- printing ------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _short(path: str) -> str:
    parts = path.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else path


def summary_table(result: dict[str, Any], limit: int = 30) -> Any:
    """A rich Table of the ranked trials: searched values and the main fitness metrics."""
    from rich.table import Table

    keys = result.get("search_keys", [])
    ranked = result.get("kind") != "benchmark"  # a benchmark lists its trials in spec_params order
    title = "trials ranked by strength" if ranked else "benchmark trials"
    table = Table(title=f"{result.get('name', 'search')}: {title}")
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right")
    table.add_column("status")
    for key in keys:
        table.add_column(_short(key.rpartition("__")[0] or key))
    for m in SUMMARY_METRICS:
        table.add_column(m, justify="right")
    for i, row in enumerate(result.get("rows", [])[:limit]):
        values = row.get("values", {})
        table.add_row(str(i + 1), str(row["trial"]), row["status"], *(_fmt(values.get(k)) for k in keys),
                      *(_fmt(row.get(m, math.nan)) for m in SUMMARY_METRICS))
    return table
