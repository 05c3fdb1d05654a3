"""What a comparison reads: each run folder's trials (final evaluation returns per session, the
random baseline), the published references, and scores normalized between them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout, TableLayout
from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)


class CompareError(ValueError):
    """A folder that cannot be compared (not a run folder, no finished sessions)."""


@dataclass
class TrialResult:
    """What a comparison needs of one trial: final returns per session and eval curves."""

    env: str
    algorithm: str
    folder: Path
    final_returns: np.ndarray
    curves: list[tuple[np.ndarray, np.ndarray]]
    random_return: float
    max_frame: int


@dataclass
class RunResult:
    """A compared run: one trial, or a benchmark / search folder of trials keyed by env."""

    label: str
    folder: Path
    trials: dict[str, TrialResult] = field(default_factory=dict)


# --- reading run folders --------------------------------------------------------------------


def _final_returns(trial_dir: Path, sessions: list[Path]) -> np.ndarray:
    """Each finished session's final eval return (trial_metrics.json, else eval.csv's last row)."""
    metrics_file = RunLayout(trial_dir).trial_metrics_json
    if metrics_file.is_file():
        per_session = io.read_json(metrics_file).get("sessions", {})
        values = [s.get("final_return") for s in per_session.values()]
        return np.array([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=np.float64)
    from slm_lab.analysis.metrics import eval_curve, read_table

    finals = []
    for s in sessions:
        _, _, ret = eval_curve(read_table(TableLayout(s).eval_csv))
        ret = ret[np.isfinite(ret)]
        if ret.size:
            finals.append(ret[-1])
    return np.asarray(finals, dtype=np.float64)


def _random_return(trial_dir: Path, spec: dict[str, Any]) -> float:
    metrics_file = RunLayout(trial_dir).trial_metrics_json
    if metrics_file.is_file():
        value = io.read_json(metrics_file).get("trial", {}).get("random_baseline")
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    from slm_lab.analysis.baseline import random_baseline

    return random_baseline(spec["env"][0])


def load_trial(trial_dir: Path) -> TrialResult:
    from slm_lab.analysis.graphs import session_folders
    from slm_lab.analysis.metrics import eval_curve, read_table

    spec_file = RunLayout(trial_dir).spec_json
    if not spec_file.is_file():
        raise CompareError(f"'{trial_dir}' has no spec.json (not a trial folder of the lab)")
    spec = io.read_json(spec_file)
    sessions = [s for s in session_folders(trial_dir) if TableLayout(s).eval_csv.is_file()]
    if not sessions:
        raise CompareError(f"'{trial_dir}' has no session with an eval.csv")
    curves = []
    for s in sessions:
        frames, _, ret = eval_curve(read_table(TableLayout(s).eval_csv))
        curves.append((np.asarray(frames, dtype=np.float64), np.asarray(ret, dtype=np.float64)))
    env = spec["env"][0]
    return TrialResult(env["name"], spec["agent"][0]["algorithm"]["name"], trial_dir,
                       _final_returns(trial_dir, sessions), curves, _random_return(trial_dir, spec),
                       int(env.get("max_frame") or max((c[0].max() for c in curves if c[0].size), default=0)))


def load_run(folder: str | Path) -> RunResult:
    """A trial folder, or a folder of trial folders (benchmark or search): trials keyed by env."""
    from slm_lab.analysis.graphs import trial_folders

    folder = Path(folder)
    if not folder.is_dir():
        raise CompareError(f"'{folder}' is not a run folder")
    trials = trial_folders(folder)
    if not trials:
        raise CompareError(f"'{folder}' holds no session folders (expected a run folder from train, search or "
                           "benchmark mode)")
    run = RunResult(folder.name, folder)
    for t in trials:
        trial = load_trial(t)
        key = trial.env if trial.env not in run.trials else f"{trial.env} ({t.name})"
        run.trials[key] = trial
    return run


# --- normalized scores ---------------------------------------------------------------------


def reference_return(env: str, refs: dict[str, Any]) -> float:
    """Score 1 of an env: Gymnasium's solved threshold (benchmark.md's 'solved at'), else the
    best return any published source lists for the env. The same for every algorithm, so
    normalized scores of different algorithms are comparable. NaN when nothing is published."""
    solved = refs.get("solved", {}).get(env)
    if isinstance(solved, (int, float)):
        return float(solved)
    published = [r[env]["return"] for s in refs.get("sources", {}).values() for r in s.get("results", {}).values()
                 if env in r and isinstance(r[env].get("return"), (int, float))]
    return float(max(published)) if published else math.nan


def normalize(values: np.ndarray, random_return: float, reference: float) -> np.ndarray:
    """(x - random) / (reference - random): random policy = 0, reference = 1."""
    span = reference - random_return
    if not (math.isfinite(span) and abs(span) > 1e-12):
        return np.full(np.shape(values), np.nan)
    return (np.asarray(values, dtype=np.float64) - random_return) / span


# --- the statistics ------------------------------------------------------------------------
