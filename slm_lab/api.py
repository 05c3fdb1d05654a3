"""The lab from Python: train a spec, search it, load a trained policy (docs/API.md).

The same preparation and run as `slm-lab run` (slm_lab/control/run.py), so a run started
here leaves the same folder and files as one started from the command line. Works from a
notebook, `python -c`, stdin and scripts without an `if __name__ == "__main__":` guard:
session processes are spawned with a bare main module (slm_lab/lib/spawn.py).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from slm_lab.spec.errors import SpecError
from slm_lab.lib.layout import ExperimentLayout, TableLayout

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from slm_lab.spec.schema import Spec

SpecLike = Union[str, Path, dict, "Spec"]


@dataclass
class SessionResult:
    """One session's folder and its tables (train.csv, eval.csv) as DataFrames."""

    dir: Path
    train: pd.DataFrame
    eval: pd.DataFrame


@dataclass
class TrialResult:
    """What `train` returns: the run folder, the trial metrics and each session's tables."""

    run_dir: Path
    metrics: dict[str, Any]
    sessions: list[SessionResult] = field(default_factory=list)

    @property
    def session_dirs(self) -> list[Path]:
        return [s.dir for s in self.sessions]


@dataclass
class ExperimentResult:
    """What `search` returns: the experiment folder, the trials ranked best first, the best spec."""

    run_dir: Path
    trials: pd.DataFrame
    best_spec: dict[str, Any] | None
    best_trial: int | None
    summary: dict[str, Any]


@contextlib.contextmanager
def _data_dir(path: str | Path | None) -> Iterator[None]:
    """Runs write under `path` for the duration (the lab reads $SLM_LAB_DATA_DIR, lib/io.py)."""
    from slm_lab.lib import io

    if path is None:
        yield
        return
    old = os.environ.get(io.DATA_DIR_ENV)
    os.environ[io.DATA_DIR_ENV] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(io.DATA_DIR_ENV, None)
        else:
            os.environ[io.DATA_DIR_ENV] = old


def _raw_spec(spec: SpecLike, name: str | None) -> tuple[dict[str, Any], str]:
    """The named raw spec dict: from a file, a dict ({name: spec} or one spec) or a Spec."""
    from slm_lab.spec.loader import read_spec_file
    from slm_lab.spec.schema import Spec

    if isinstance(spec, Spec):
        return spec.model_dump(mode="json"), name or spec.name
    if isinstance(spec, (str, Path)):
        specs = read_spec_file(spec)
    elif isinstance(spec, dict):
        specs = {name or spec.get("name", "spec"): spec} if "agent" in spec else spec
    else:
        raise SpecError(f"spec must be a file path, a dict or a Spec, not {type(spec).__name__}")
    if name is None:
        if len(specs) != 1:
            raise SpecError(f"the spec file holds several specs ({', '.join(specs)}): give name=")
        name = next(iter(specs))
    if name not in specs:
        raise SpecError(f"spec '{name}' not found (available: {', '.join(specs)})")
    return copy.deepcopy(specs[name]), name


def prepare_spec(spec: SpecLike, name: str | None = None, overrides: list[str] | dict[str, Any] | None = None,
                 mode: str = "train") -> Spec:
    """Validate a spec as `slm-lab run` does (overrides `path=value` or {path: value}, mode adjustments,
    env names, action spaces, plugins a spawned session could not import); raises SpecError."""
    from slm_lab.control.run import Mode, check_new_run
    from slm_lab.plugins import unimportable
    from slm_lab.spec.loader import build_raw, validate

    raw, name = _raw_spec(spec, name)
    if isinstance(overrides, dict):
        import json

        overrides = [f"{k}={json.dumps(v)}" for k, v in overrides.items()]
    raw.pop("name", None)
    validated = validate(build_raw(raw, name, list(overrides or []), None, mode))
    check_new_run(validated, Mode(mode))
    if validated.meta.max_session > 1:
        names = [getattr(block, key) for a in validated.agent
                 for block, key in ((a.algorithm, "name"), (a.memory, "name"), (a.net, "type"))]
        if bad := unimportable(names):
            raise SpecError(f"'{bad[0]}' was registered from __main__ (a script, notebook or stdin), which the "
                            f"{validated.meta.max_session} spawned sessions cannot import: move the class into a "
                            "module and name it as 'module:Class', or set meta.max_session=1")
    return validated


def _read_csv(path: Path) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def train(spec: SpecLike, name: str | None = None, *, overrides: list[str] | dict[str, Any] | None = None,
          data_dir: str | Path | None = None, mode: str = "train", show_progress: bool = False) -> TrialResult:
    """Run one trial (`mode` "train" or "dev") and return its folder, metrics and session tables."""
    from slm_lab.control.run import Mode, run

    if mode not in ("train", "dev"):
        raise SpecError(f"train: mode '{mode}' is not train or dev (search() runs searches)")
    with _data_dir(data_dir):
        prepared = prepare_spec(spec, name, overrides, mode)
        metrics = run(prepared, Mode(mode), show_progress=show_progress)
    run_dir = Path(metrics["run_dir"])
    sessions = [SessionResult(d, _read_csv(TableLayout(d).train_csv), _read_csv(TableLayout(d).eval_csv))
                for d in sorted(run_dir.glob("session_*"), key=lambda p: int(p.name.split("_")[1]))]
    return TrialResult(run_dir, metrics, sessions)


def search(spec: SpecLike, name: str | None = None, *, overrides: list[str] | dict[str, Any] | None = None,
           data_dir: str | Path | None = None, ray_address: str | None = None) -> ExperimentResult:
    """Run the spec's search block on Ray Tune; the trials come back ranked, best first."""
    import pandas as pd

    from slm_lab.control.ray_cluster import ray_address as resolve_address
    from slm_lab.control.run import Mode, run

    with _data_dir(data_dir):
        prepared = prepare_spec(spec, name, overrides, "search")  # refuses a spec without a search block
        summary = run(prepared, Mode("search"), ray_address=resolve_address(ray_address))
    run_dir = Path(summary["run_dir"])
    trials = _read_csv(ExperimentLayout(run_dir).experiment_df_csv)
    order = {row["trial"]: i for i, row in enumerate(summary.get("rows", []))}
    if "trial" in trials:
        trials = trials.sort_values("trial", key=lambda s: s.map(order)).reset_index(drop=True)
    best = None
    if summary.get("best_spec"):
        from slm_lab.lib import io

        best = next(iter(io.read_json(summary["best_spec"]).values()))
    return ExperimentResult(run_dir, pd.DataFrame(trials), best, summary.get("best_trial"), summary)


def register(name: str, cls: type) -> None:
    """Let specs name `cls` (an algorithm, memory or net class) as `name` (slm_lab/plugins.py)."""
    from slm_lab.plugins import register as register_plugin

    register_plugin(name, cls)


def load_policy(session_dir: str | Path, device: str | None = None) -> Policy:
    """The trained agent of a session folder (best.pt, else latest.pt), ready to act."""
    from slm_lab.api_policy import Policy

    return Policy.load(Path(session_dir), device)


if TYPE_CHECKING:
    from slm_lab.api_policy import Policy

__all__ = ["ExperimentResult", "SessionResult", "TrialResult", "load_policy", "prepare_spec", "register", "search", "train"]


def compare(run_dirs: list[str | Path], out_dir: str | Path | None = None, *, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Is B better than A? Compare run folders (the first is the baseline A) with the statistics of
    docs/METRICS.md: IQM difference with a bootstrap CI, P(B > A), Mann-Whitney p and a verdict;
    across benchmark folders, normalized aggregates and performance profiles. Writes compare.json,
    graphs and a report into `out_dir` (default: a new folder in the data dir) and returns the
    comparison as a dict."""
    from slm_lab.analysis.compare import compare as compare_runs

    with _data_dir(data_dir):
        return compare_runs(run_dirs, out_dir)
