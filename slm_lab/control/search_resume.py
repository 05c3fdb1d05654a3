"""Resume an interrupted search: `slm-lab run SPEC_FILE SPEC_NAME search@<experiment dir | latest>`.

A search writes its plan before any trial runs and each trial's result as Tune reports it
(control/search_state.py). A resume, from those records:

- keeps every trial Tune had finished, stopped early (ASHA) or seen fail: its folder is not
  touched and its experiment_df row is the recorded one;
- continues each other trial that had started (its folder holds spec.json) with
  `resume_trial`: finished sessions kept, unfinished ones from their last checkpoint;
- runs the trials never started with the configs the plan drew (random search) or that were
  recorded when Optuna drew them; an Optuna search then draws what is left of max_trial,
  its sampler first told the kept trials' scores;
- writes experiment_df.csv, best_spec.json, the graph and the report as a search does: one
  row per trial.

These run on Ray as any search does (a lab-side resume: Tune's own `Tuner.restore` would rerun
the trials Tune had not snapshotted as finished, and knows nothing of the lab's checkpoints).
A new ASHA scheduler compares only the trials run by the resume. The saved experiment spec
(spec.json) is run as it is: no `-s` override.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_lab.control import search_state
from slm_lab.control.experiment import finish_experiment
from slm_lab.control.ray_cluster import check_ray_address, quiet_ray_env, worker_env
from slm_lab.control.search_plan import Continuation, Plan
from slm_lab.control.tune_trials import run_on_ray
from slm_lab.control.resume import check_resumable, find_latest_run, load_saved_spec
from slm_lab.lib import pids
from slm_lab.lib.layout import RunLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec
from slm_lab.spec.search import parse_search

logger = get_logger(__name__)


@dataclass
class StandingSearch:
    """Where an interrupted search stands."""

    plan: Plan  # as the search ran it, with `final` = the trials that have a result
    kept: list[dict[str, Any]]  # rows of those trials, and of the draws the schema refused
    cont: Continuation  # what is left to run


def resolve_experiment_dir(target: str, spec_name: str) -> Path:
    """`latest` (the newest search folder of `spec_name`) or a path, checked to be a search folder."""
    if not target:
        raise SpecError("mode 'search@' needs an experiment folder: search@data/<experiment> or search@latest")
    path = find_latest_run(spec_name, marker=search_state.PLAN_FILE, mode="search") if target == "latest" else Path(target)
    if not path.is_dir():
        raise SpecError(f"search@{target}: no such experiment folder")
    if not (path / search_state.PLAN_FILE).is_file():
        raise SpecError(f"search@{target}: not a search folder (no {search_state.PLAN_FILE}; a train run, or a "
                        "search killed before it started, cannot resume as a search)")
    return path


def load_standing(exp_dir: Path) -> StandingSearch:
    """The plan, the kept rows and what is left, from the search's records."""
    saved = search_state.read_plan(exp_dir)
    records = search_state.read_records(exp_dir)
    raw = saved["raw"]
    plan = Plan(str(Path(exp_dir).resolve()), saved["name"], parse_search(raw.get("search") or {}), raw, saved["full"],
                trials=saved["trials"], env=worker_env(), log_level=logging.getLogger("slm_lab").getEffectiveLevel(),
                resumable=True, resume=True)
    rows = {i: r["row"] for i, r in records.items() if r.get("row")}
    if plan.trials is not None:  # random search: the plan holds every trial
        rows = {i: row for i, row in rows.items() if i in plan.trials}
        cont = Continuation(todo=sorted(set(plan.trials) - set(rows)))
    else:  # Optuna: the records hold the draws made so far
        drawn = {i: r["config"] for i, r in records.items() if r.get("config") is not None}
        cont = Continuation(todo=sorted(set(drawn) - set(rows)), configs=drawn,
                            new=max(0, int(saved["max_trial"]) - len(set(drawn) | set(rows))),
                            start=max([*drawn, *rows], default=-1) + 1,
                            told=[(drawn[i], row) for i, row in sorted(rows.items()) if i in drawn])
    plan.final = set(rows)
    kept = list(saved.get("invalid") or []) + [rows[i] for i in sorted(rows)]
    return StandingSearch(plan, kept, cont)


def prepare_search_resume(spec_file: str, spec_name: str, target: str, overrides: list[str] | None,
                          variables: dict[str, Any] | None) -> tuple[Spec, Path]:
    """search@<experiment dir | latest>: every check before anything is written."""
    from slm_lab.spec.loader import check_env_names, load_spec

    load_spec(spec_file, spec_name, None, variables, mode="search")  # the arguments must still name a valid spec
    if overrides:
        raise SpecError(f"override '{overrides[0]}': a resumed search runs its saved spec and plan; drop -s")
    exp_dir = resolve_experiment_dir(target, spec_name)
    spec = load_saved_spec(exp_dir, spec_name)
    if search_state.is_done(exp_dir):
        raise SpecError(f"search@{target}: {exp_dir} is finished already (every trial has a result; see experiment_df.csv)")
    if pids.is_locked(exp_dir):
        raise SpecError(f"{exp_dir} is in use by a running search (stop it first with slm-lab kill)")
    check_env_names(spec)
    standing = load_standing(exp_dir)  # a damaged plan or record is refused now, not in a Ray worker
    for index in standing.cont.todo:
        trial_dir = standing.plan.trial_dir(index)
        if RunLayout(trial_dir).spec_json.is_file():  # started: its checkpoints must load safely
            check_resumable(trial_dir, load_saved_spec(trial_dir))
    return spec, exp_dir


def resume_experiment(spec: Spec, exp_dir: Path, address: str | None = None) -> dict[str, Any]:
    """Finish the search in `exp_dir` (prepared by prepare_search_resume)."""
    check_ray_address(address)
    quiet_ray_env(address)
    try:
        with pids.run_lock(exp_dir):
            setup_logging(logging.INFO, RunLayout(exp_dir).log_txt)  # appends: the log tells every attempt
            standing = load_standing(exp_dir)
            cont = standing.cont
            logger.info(f"resuming search {spec.name} in {exp_dir}: {len(standing.plan.final)} trial(s) kept, "
                        f"{len(cont.todo)} to finish or run{f', {cont.new} to draw' if cont.new else ''}")
            rows = standing.kept + ([] if cont.empty() else run_on_ray(spec, standing.plan, address, cont=cont))
            return finish_experiment(spec, standing.plan, rows)
    except pids.RunInUse as e:  # another resume took the folder since it was checked
        raise SpecError(str(e)) from None
