"""What a search runs: its Plan (sent once to every trial worker) and what a resume has left."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_lab.lib.layout import ExperimentLayout
from slm_lab.spec.search import SearchParam, apply_sample, decode

# the trial metrics reported to Tune and kept in experiment_df.csv, in this order
METRIC_COLUMNS = ("strength", "max_strength", "final_strength", "sample_efficiency", "training_efficiency",
                  "stability", "consistency", "final_return_ma", "final_return", "final_return_iqm",
                  "final_return_iqm_ci_low", "final_return_iqm_ci_high", "random_baseline", "num_sessions",
                  "num_failed_sessions")
SUMMARY_METRICS = ("strength", "final_return_ma", "final_return_iqm", "stability", "consistency")


@dataclass
class Plan:
    """What every trial worker needs to build and run its trial (sent once through Ray's object store)."""

    exp_dir: str
    name: str
    params: list[SearchParam]
    raw: dict[str, Any]  # the experiment spec as written (no defaults)
    full: dict[str, Any]  # the same with every default
    # fixed trials (random search, benchmark): index -> {"spec": raw spec, "values": {...}}; None: Optuna draws them
    trials: dict[int, dict[str, Any]] | None = None
    env: dict[str, str] = field(default_factory=dict)
    log_level: int = logging.INFO
    # search mode: the driver records each trial's result in the folder (search_state.py), so search@ can resume
    resumable: bool = False
    resume: bool = False  # a trial that has a folder continues from its session checkpoints
    final: set[int] = field(default_factory=set)  # driver side: the trials with a recorded result

    def trial_dir(self, index: int) -> Path:
        return ExperimentLayout(Path(self.exp_dir)).trial(index).dir

    def trial_values(self, index: int, config: dict[str, Any]) -> dict[str, Any]:
        """The spec values of a trial, by search key."""
        if self.trials is not None:
            return self.trials[index]["values"]
        return {p.key: decode(p, config[p.key]) for p in self.params if p.key in config}

    def trial_raw(self, index: int, config: dict[str, Any]) -> dict[str, Any]:
        if self.trials is not None:
            return self.trials[index]["spec"]
        return raw_from_values(self, self.trial_values(index, config))

    def complete(self) -> bool:
        """Every trial of the search has a recorded result (a resume has nothing left to run)."""
        if self.trials is not None:
            return set(self.trials) <= self.final
        return len(self.final) >= int(self.full["meta"]["max_trial"])


@dataclass
class Continuation:
    """What a resumed search still runs (search_resume.py): `todo`, trials drawn before that have
    no result, then (Optuna) `new` draws, numbered from `start`, by a sampler first told the
    kept trials' results (`told`: their Tune config and row)."""

    todo: list[int]
    configs: dict[int, dict[str, Any]] = field(default_factory=dict)  # Optuna: the todo trials' Tune configs
    new: int = 0
    start: int = 0
    told: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def empty(self) -> bool:
        return not self.todo and not self.new


def raw_from_values(plan: Plan, values: dict[str, Any]) -> dict[str, Any]:
    trial_raw = apply_sample(plan.raw, plan.full, values, plan.params)
    trial_raw["name"] = plan.name
    return trial_raw
