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

This module and benchmark.py are the only parts of the lab that import ray, and only inside
functions: importing them is cheap.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from slm_lab.control import search_state
from slm_lab.lib import io, pids
from slm_lab.lib.layout import ExperimentLayout, RunLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec
from slm_lab.spec.search import SearchParam, apply_sample, decode, parse_search, sample_random, tune_domain

logger = get_logger(__name__)

# the trial metrics reported to Tune and kept in experiment_df.csv, in this order
METRIC_COLUMNS = ("strength", "max_strength", "final_strength", "sample_efficiency", "training_efficiency",
                  "stability", "consistency", "final_return_ma", "final_return", "final_return_iqm",
                  "final_return_iqm_ci_low", "final_return_iqm_ci_high", "random_baseline", "num_sessions",
                  "num_failed_sessions")
SUMMARY_METRICS = ("strength", "final_return_ma", "final_return_iqm", "stability", "consistency")
ASHA_REDUCTION_FACTOR = 2
RAY_TUNE_DIR = "ray_tune"  # Tune's own state and result logs, inside the experiment folder
# environment variables the lab's workers need to see as the driver does
PASSED_ENV = ("SLM_LAB_CACHE_DIR",)
QUIET_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage-stats prompt or upload
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0 the legacy reporter prints nothing
}


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
    record: bool = False
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
        return _raw_from_values(self, self.trial_values(index, config))

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


# --- the trial worker (runs inside Ray) --------------------------------------------------


class ProgressReport:
    """Session progress -> Tune intermediate results, for early stopping.

    `frame` is the fewest frames any session of the trial has run (so a trial at frame f has
    all its sessions past f) and `return_ma` the mean of their latest training return moving
    averages; a result is sent when that frame moves on and the mean is a number.
    """

    def __init__(self, num_sessions: int, index: int, max_frame: int, report: Callable[[dict[str, Any]], None]) -> None:
        self.frames = [0] * num_sessions
        self.max_frame = max_frame
        self.returns = [math.nan] * num_sessions
        self.index = index
        self.report = report
        self.last_frame = 0

    def __call__(self, session: int, info: dict[str, Any]) -> None:
        if not 0 <= session < len(self.frames):
            return
        self.frames[session] = int(info.get("frame", 0))
        ma = info.get("return_ma")
        self.returns[session] = float(ma) if ma is not None else math.nan
        frame = min(self.frames)
        finite = [r for r in self.returns if math.isfinite(r)]
        # the last frame is the final report's: ASHA stops a trial that reaches max_t
        if self.last_frame < frame < self.max_frame and finite:
            self.last_frame = frame
            try:
                self.report({"trial_index": self.index, "final": False, "frame": frame,
                             "return_ma": sum(finite) / len(finite)})
            except SystemExit:
                # Tune stopped this trial (ASHA, Ctrl-C): end the session processes now rather
                # than let them train on with nobody to collect their results
                _stop_children()
                raise


def _stop_children() -> None:
    import multiprocessing as mp

    for child in mp.active_children():
        child.terminate()
    for child in mp.active_children():
        child.join(timeout=5)


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in METRIC_COLUMNS:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value) if isinstance(value, float) else int(value)
    return out


def run_trial(config: dict[str, Any], plan: Plan) -> None:
    """The Ray Tune trainable: build trial `config["trial_index"]`'s spec, run its Trial, report."""
    from ray import tune

    from slm_lab.control.trial import Trial
    from slm_lab.spec.loader import validate

    os.environ.update(plan.env)
    index = int(config["trial_index"])
    trial_dir = plan.trial_dir(index)
    trial_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(plan.log_level, RunLayout(trial_dir).log_txt, stderr=False)
    try:
        spec = validate(plan.trial_raw(index, config))
    except SpecError as e:  # an Optuna draw the schema refuses (e.g. two options that exclude each other)
        io.write_text(RunLayout(trial_dir).error_file, f"{e}\n")
        raise
    logger.info(f"trial {index}: {json.dumps(plan.trial_values(index, config), default=str)}")
    reporter = ProgressReport(spec.meta.max_session, index, spec.env[0].max_frame, tune.report)
    if plan.resume and RunLayout(trial_dir).spec_json.is_file():  # started before the search was interrupted
        from slm_lab.control.resume import resume_trial

        logger.info(f"trial {index}: resuming from its session checkpoints")
        metrics = resume_trial(trial_dir, show_progress=False, on_progress=reporter)
    else:
        metrics = Trial(spec, trial_dir, index, show_progress=False, on_progress=reporter).run()
    tune.report({**_scalar_metrics(metrics), "trial_index": index, "final": True,
                 "frame": spec.env[0].max_frame, "return_ma": metrics.get("final_return_ma", math.nan)})


# --- Ray -----------------------------------------------------------------------------------


def ray_address(cli_address: str | None) -> str | None:
    """--ray-address, else $RAY_ADDRESS; None means: start Ray here."""
    return cli_address or os.environ.get("RAY_ADDRESS") or None


def quiet_ray_env(address: str | None) -> None:
    """Ray's settings by environment: call before ray is first imported (it reads some only then)."""
    for key, value in QUIET_RAY_ENV.items():
        os.environ.setdefault(key, value)
    if not address:
        # token auth stays on for the local Ray; naming the mode only silences Ray's notice about it
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _use_local_token() -> None:
    """Join a token-authenticated cluster (Ray's default for `ray start`) the way Ray's own CLI
    does (`ray status --address`): with the token found on this machine, unless RAY_AUTH_MODE
    says otherwise. `ray.init` alone does not do this for an explicit address."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: RAY_AUTH_MODE=token must be set by hand
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def check_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """A `host:port` address must answer before anything is written (Ray itself retries for a minute)."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SpecError(f"--ray-address '{address}' is not host:port (like 127.0.0.1:6379)")
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise SpecError(f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                        "`ray start --head --port PORT` or leave out --ray-address / RAY_ADDRESS") from None


def start_ray(address: str | None, exp_dir: Path) -> bool:
    """Start a quiet local Ray with this machine's CPUs, or join the cluster at `address`.

    Returns False when Ray was already running in this process (its owner shuts it down).
    """
    quiet_ray_env(address)
    import ray

    if ray.is_initialized():
        return False
    # relative paths in a spec (entry-point envs) keep meaning the driver's working directory
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                              "runtime_env": {"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}}}
    if address:
        _use_local_token()
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SpecError(f"cannot join the Ray cluster at {address}: {str(e).splitlines()[0]}") from None
        logger.info(f"joined the Ray cluster at {address}")
    else:
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **common)
        from slm_lab.lib import pids

        pids.register_ray_processes(exp_dir)  # so `slm-lab kill` can stop them if this run dies
        logger.info(f"started a local Ray with {os.cpu_count()} CPUs")
    return True


def trial_cpus(spec: Spec) -> float:
    """CPUs one trial reserves: search_resources.cpu or max_session, at most the largest node's."""
    import ray

    wanted = spec.meta.search_resources.cpu if spec.meta.search_resources else float(spec.meta.max_session)
    largest = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=1.0)
    if wanted > largest:
        logger.info(f"a trial wants {wanted:g} CPUs; the largest Ray node has {largest:g}: using {largest:g}")
    return max(min(wanted, largest), 0.01)


def _numbered_searcher(inner: Any, start: int = 0, fixed: list[dict[str, Any]] | None = None,
                       told: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
                       on_draw: Callable[[int, dict[str, Any]], None] | None = None) -> Any:
    """Wrap a Tune Searcher so each suggestion carries `trial_index` start, start + 1, ... (folder
    names and seeds need a small, stable index), and only final results reach it (Optuna wants
    the score). `on_draw(index, config)` hears every draw before Tune runs it.

    A resumed search first hands out `fixed` (configs drawn before, with their trial_index)
    and tells the inner searcher `told`, the (config, row) of the trials it keeps, so its
    new draws learn from them as if it had drawn them itself."""
    from ray.tune.search import Searcher

    class Numbered(Searcher):
        """Numbers the suggestions of the searcher it wraps."""

        def __init__(self, searcher: Any) -> None:
            # no metric of its own: Tune would then demand `strength` in every intermediate result
            super().__init__(metric=None, mode=None)
            self.searcher = searcher
            self.count = start
            self.fixed = list(fixed or [])
            self.drawn: set[str] = set()  # trial ids the inner searcher suggested (it knows no others)
            self.handed: dict[str, dict] = {}  # trial id -> config of a fixed trial handed out

        def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
            ok = self.searcher.set_search_properties(metric, mode, config, **spec)
            for past, row in told or []:  # the search space is known only now
                _tell(self.searcher, past, row)
            return ok

        def suggest(self, trial_id: str) -> dict | None:
            if self.fixed:
                config = self.fixed.pop(0)
                self.handed[trial_id] = {k: v for k, v in config.items() if k != "trial_index"}
                return config
            config = self.searcher.suggest(trial_id)
            if isinstance(config, dict):
                if on_draw is not None:
                    on_draw(self.count, config)
                config = {**config, "trial_index": self.count}
                self.count += 1
                self.drawn.add(trial_id)
            return config

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            pass  # intermediate results carry no strength yet

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self.handed:  # a fixed trial of a resume: told as a point it did not draw
                final = result is not None and bool(result.get("final"))
                status = "ok" if final else "error" if error else "stopped"
                _tell(self.searcher, self.handed.pop(trial_id), {"status": status, "strength": (result or {}).get("strength")})
                return
            if trial_id not in self.drawn:
                return
            if result is not None and not result.get("final"):
                result = None  # stopped early: no score (Optuna records it as pruned)
            self.searcher.on_trial_complete(trial_id, result=result, error=error)

        # Tune snapshots its own experiment state as it goes; the lab resumes from its records instead
        def get_state(self) -> dict:
            return {"count": self.count}

        def set_state(self, state: dict) -> None:
            self.count = int(state.get("count", 0))

    return Numbered(inner)


def _tell(searcher: Any, config: dict[str, Any], row: dict[str, Any]) -> None:
    """Tell an Optuna searcher how a trial it did not draw itself ended (a kept trial of a resume)."""
    strength = row.get("strength")
    if row["status"] == "ok" and isinstance(strength, (int, float)) and math.isfinite(strength):
        searcher.add_evaluated_point(config, float(strength))
    else:  # stopped early, failed, or no finite score: what Optuna calls pruned or failed
        searcher.add_evaluated_point(config, None, error=row["status"] == "error", pruned=row["status"] != "error")


def _log_callback(plan: Plan) -> Any:
    from ray import tune

    class LogTrials(tune.Callback):
        """One log line on the driver per finished, stopped or failed trial, and its recorded row.

        Tune calls neither hook for the trials it stops on Ctrl-C: they get no row, and resume."""

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            r = trial.last_result or {}
            index = trial.config.get("trial_index")
            if r.get("final"):
                logger.info(f"trial {index} done: strength {r.get('strength', math.nan):.4g}, "
                            f"final_return_ma {r.get('final_return_ma', math.nan):.4g}")
            else:
                logger.info(f"trial {index} stopped early at frame {r.get('frame', 0)}")
            _record(plan, _make_row(plan, trial.config, r, None))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            logger.warning(f"trial {trial.config.get('trial_index')} failed (see its folder and log.txt)")
            _record(plan, _make_row(plan, trial.config, trial.last_result, _trial_error(trial)))

    return LogTrials()


def _trial_error(trial: Any) -> BaseException | str:
    try:
        return trial.get_pickled_error() or trial.get_error() or "failed"
    except Exception:  # an unreadable error file: the trial still failed
        return "failed"


def _record(plan: Plan, row: dict[str, Any]) -> None:
    if plan.record and row["trial"] >= 0:
        search_state.record_result(plan.exp_dir, row["trial"], row)
        plan.final.add(row["trial"])


def run_on_ray(spec: Spec, plan: Plan, address: str | None, early_stopping: bool = True,
               cont: Continuation | None = None) -> list[dict[str, Any]]:
    """Run the plan's trials on Ray Tune; one row per trial (status, values, metrics).

    `early_stopping`: use the spec's meta.search_scheduler (a benchmark runs every trial to the end).
    `cont`: a resumed search runs only what it has left (rows of those trials only).
    """
    started = start_ray(address, Path(plan.exp_dir))
    import ray
    from ray import tune

    try:
        cpus = trial_cpus(spec)
        trainable = tune.with_resources(tune.with_parameters(run_trial, plan=plan), {"cpu": cpus})
        if plan.trials is not None:
            indices = sorted(plan.trials) if cont is None else cont.todo
            param_space: dict[str, Any] = {"trial_index": tune.grid_search(indices)}
            search_alg, num_samples = None, 1
        else:
            param_space = {p.key: tune_domain(p, optuna=True) for p in plan.params}
            search_alg, num_samples = _optuna_searcher(spec, plan, cont)
        scheduler = None
        if early_stopping and spec.meta.search_scheduler == "asha":
            from ray.tune.schedulers import ASHAScheduler

            max_frame = spec.env[0].max_frame
            grace = min(max_frame, max(spec.meta.log_frequency, max_frame // 8))
            scheduler = ASHAScheduler(time_attr="frame", metric="return_ma", mode="max", max_t=max_frame,
                                      grace_period=grace, reduction_factor=ASHA_REDUCTION_FACTOR)
        logger.info(f"search {spec.name}: {plan.params and ', '.join(p.key for p in plan.params) or 'fixed trials'}; "
                    f"{cpus:g} CPU(s) per trial; results in {plan.exp_dir}")
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(num_samples=num_samples, search_alg=search_alg, scheduler=scheduler),
            run_config=tune.RunConfig(name=RAY_TUNE_DIR, storage_path=str(Path(plan.exp_dir).resolve()), verbose=0,
                                      callbacks=[_log_callback(plan)], failure_config=tune.FailureConfig(max_failures=0)),
        )
        # Ctrl-C: Tune stops the running trials and returns what ran; its notices about that
        # (resume with Tuner.restore, metrics of never-started trials) do not apply to the lab
        for name in ("ray.tune.tune", "ray.tune.analysis.experiment_analysis"):
            logging.getLogger(name).setLevel(logging.ERROR)
        grid = tuner.fit()
        rows = [_row(plan, result) for result in grid]
        # Ctrl-C leaves trials Tune had queued but never started: nothing ran, nothing to list
        return [r for r in rows if r["trial"] >= 0 and (r["status"] != "stopped" or r["frame"] > 0
                                                        or plan.trial_dir(r["trial"]).is_dir())]
    finally:
        if started:
            ray.shutdown()


def _optuna_searcher(spec: Spec, plan: Plan, cont: Continuation | None) -> tuple[Any, int]:
    """Optuna's TPE, numbered, recording each draw; on a resume it first runs the trials drawn
    before and learns from the kept ones. Returns the search alg and Tune's num_samples."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner = OptunaSearch(metric="strength", mode="max", seed=spec.meta.seed)

    def on_draw(index: int, config: dict[str, Any]) -> None:
        if plan.record:
            search_state.record_draw(plan.exp_dir, index, config)

    if cont is None:
        return _numbered_searcher(inner, on_draw=on_draw), spec.meta.max_trial
    fixed = [{**cont.configs[i], "trial_index": i} for i in cont.todo]
    return (_numbered_searcher(inner, cont.start, fixed, cont.told, on_draw), len(fixed) + cont.new)


def _row(plan: Plan, result: Any) -> dict[str, Any]:
    return _make_row(plan, result.config, result.metrics, result.error)


def _make_row(plan: Plan, config: dict[str, Any] | None, metrics: dict[str, Any] | None,
              error: BaseException | str | None) -> dict[str, Any]:
    """A trial's experiment_df row from its Tune config, last result and error."""
    metrics = metrics or {}
    config = config or {}
    index = int(config.get("trial_index", metrics.get("trial_index", -1)))
    if index < 0:
        return {"trial": -1, "status": "stopped", "values": {}, "frame": 0}
    if metrics.get("final"):
        status = "ok"
    elif error is not None:
        status = "error"
    else:
        status = "stopped"
    row: dict[str, Any] = {"trial": index, "status": status, "values": plan.trial_values(index, config)}
    row.update(_scalar_metrics(metrics))
    row["frame"] = metrics.get("frame", 0)
    if error is not None:
        row["error"] = _one_line(error)
    row["trial_dir"] = plan.trial_dir(index).name
    return row


def _one_line(error: BaseException | str) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(error).__name__


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


def worker_env() -> dict[str, str]:
    """The driver's environment variables a trial worker must see (absolute paths: workers may start elsewhere)."""
    return {k: str(Path(os.environ[k]).resolve()) for k in PASSED_ENV if os.environ.get(k)}


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
    exp_dir = io.new_run_dir(spec.name)
    # one driver per experiment folder: a search@ resume is refused while this one runs
    with pids.run_lock(exp_dir):
        setup_logging(logging.INFO, ExperimentLayout(exp_dir).log_txt)
        io.write_json(ExperimentLayout(exp_dir).spec_json, spec.model_dump(mode="json"))
        plan, invalid = plan_search(spec, exp_dir, params)
        plan.record = True
        write_search_plan(spec, plan, invalid)
        rows = invalid + (run_on_ray(spec, plan, address) if plan.trials != {} else [])
        return finish_experiment(spec, plan, rows)


def finish_experiment(spec: Spec, plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from slm_lab.analysis import write_experiment_report

    exp_dir = Path(plan.exp_dir)
    for row in rows:
        if row["status"] == "stopped" and "strength" not in row:  # a kept row of a resume may be analyzed already
            _analyze_stopped(plan, row)
            if plan.record and row["trial"] in plan.final:  # stopped by the scheduler: keep the analysis too
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
                    else _raw_from_values(plan, best["values"]))
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
    if plan.record and plan.complete():  # last: a search killed before this line can still be resumed
        search_state.mark_done(exp_dir, len(rows))
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
        spec = resolve_seeds(validate(_raw_from_values(plan, row["values"]) if plan.trials is None
                                      else plan.trials[row["trial"]]["spec"]), row["trial"])
        row.update(_scalar_metrics(trial_end(trial_dir, spec, dirs, {})))
    except Exception:  # a half-written first checkpoint: the row keeps its frame, no metrics
        logger.warning(f"could not analyze stopped trial {row['trial']}", exc_info=True)


def _raw_from_values(plan: Plan, values: dict[str, Any]) -> dict[str, Any]:
    trial_raw = apply_sample(plan.raw, plan.full, values, plan.params)
    trial_raw["name"] = plan.name
    return trial_raw


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
