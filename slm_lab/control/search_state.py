"""What a search keeps in its folder so that `search@<experiment dir>` can finish it.

- `search_plan.json`: written once, atomically, before any trial runs: the experiment spec as
  written and with every default, the sampling method, `max_trial`, and for a random search
  every drawn trial (its spec and searched values) and the draws the schema refused. A
  resumed search runs exactly these, whatever the sampler of the installed Ray would draw.
- `search_trials/trial_{i}.json`, written by the driver (never by a Ray worker, which may be
  on another machine): `config`, the Tune config Optuna drew for trial i (random searches
  need none: the plan has it), and `row`, trial i's experiment_df row once Tune reported it
  finished, stopped by the scheduler (ASHA) or failed. A trial with a row is kept by a
  resume; one without is finished from its checkpoints or run. Trials stopped by Ctrl-C get
  no row: Tune reports no completion for them, so they resume too.
- `search_done.json`: the last file a search writes, once every trial has its row.

Plain files and atomic writes only (lib/io.py): a search killed at any moment leaves each of
them whole or absent. The rest of the search lives in control/experiment.py (writing) and
control/search_resume.py (reading back).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from slm_lab.lib import io
from slm_lab.lib.layout import ExperimentLayout
from slm_lab.spec.errors import SpecError

PLAN_FILE = ExperimentLayout(Path(".")).search_plan_json.name  # the marker of a search folder
PLAN_VERSION = 1


def write_plan(exp_dir: str | Path, plan: dict[str, Any]) -> None:
    io.write_json(ExperimentLayout(Path(exp_dir)).search_plan_json, {"version": PLAN_VERSION, **plan})


def read_plan(exp_dir: str | Path) -> dict[str, Any]:
    path = ExperimentLayout(Path(exp_dir)).search_plan_json
    try:
        plan = io.read_json(path)
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None
    if not isinstance(plan, dict) or plan.get("version") != PLAN_VERSION:
        raise SpecError(f"{path}: not a search plan this version of the lab can resume")
    if plan.get("trials") is not None:  # JSON object keys are strings; the lab numbers trials with ints
        plan["trials"] = {int(k): v for k, v in plan["trials"].items()}
    return plan


def _record_path(exp_dir: str | Path, index: int) -> Path:
    return ExperimentLayout(Path(exp_dir)).search_trial_record(index)


def read_record(exp_dir: str | Path, index: int) -> dict[str, Any]:
    path = _record_path(exp_dir, index)
    return io.read_json(path) if path.is_file() else {"trial": index, "config": None, "row": None}


def read_records(exp_dir: str | Path) -> dict[int, dict[str, Any]]:
    """Every trial's record, by index."""
    out = {}
    for path in ExperimentLayout(Path(exp_dir)).search_trial_records():
        try:
            record = io.read_json(path)
            out[int(record["trial"])] = record
        except (OSError, ValueError, KeyError, TypeError):
            raise SpecError(f"{path}: not a trial record of a search (delete it to run trial "
                            f"{path.stem.rpartition('_')[2]} again)") from None
    return out


def record_draw(exp_dir: str | Path, index: int, config: dict[str, Any]) -> None:
    """Optuna drew trial `index`: keep its config, so a resume runs the same trial."""
    io.write_json(_record_path(exp_dir, index), {**read_record(exp_dir, index), "config": config})


def record_result(exp_dir: str | Path, index: int, row: dict[str, Any]) -> None:
    """Tune is done with trial `index` (finished, stopped early or failed): a resume keeps this row."""
    io.write_json(_record_path(exp_dir, index), {**read_record(exp_dir, index), "row": row})


def mark_done(exp_dir: str | Path, num_trials: int) -> None:
    io.write_json(ExperimentLayout(Path(exp_dir)).search_done_json, {"trials": int(num_trials), "finished_at": time.time()})


def is_done(exp_dir: str | Path) -> bool:
    return ExperimentLayout(Path(exp_dir)).search_done_json.is_file()
