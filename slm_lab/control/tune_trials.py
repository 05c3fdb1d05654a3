"""The Ray Tune side of a search: each trial as a Tune trainable, its progress for early
stopping (ASHA: Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020),
and one row per trial from what Tune reports."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable

from slm_lab.control import search_state
from slm_lab.control.ray_cluster import start_ray
from slm_lab.control.search_plan import METRIC_COLUMNS, Continuation, Plan
from slm_lab.control.searchers import optuna_searcher
from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec
from slm_lab.spec.search import tune_domain

logger = get_logger(__name__)

ASHA_REDUCTION_FACTOR = 2
RAY_TUNE_DIR = "ray_tune"  # Tune's own state and result logs, inside the experiment folder


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
                stop_children()
                raise


def stop_children() -> None:
    import multiprocessing as mp

    for child in mp.active_children():
        child.terminate()
    for child in mp.active_children():
        child.join(timeout=5)


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
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
    tune.report({**scalar_metrics(metrics), "trial_index": index, "final": True,
                 "frame": spec.env[0].max_frame, "return_ma": metrics.get("final_return_ma", math.nan)})


def trial_cpus(spec: Spec) -> float:
    """CPUs one trial reserves: search_resources.cpu or max_session, at most the largest node's."""
    import ray

    wanted = spec.meta.search_resources.cpu if spec.meta.search_resources else float(spec.meta.max_session)
    largest = max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=1.0)
    if wanted > largest:
        logger.info(f"a trial wants {wanted:g} CPUs; the largest Ray node has {largest:g}: using {largest:g}")
    return max(min(wanted, largest), 0.01)


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
            _record(plan, make_row(plan, trial.config, r, None))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            logger.warning(f"trial {trial.config.get('trial_index')} failed (see its folder and log.txt)")
            _record(plan, make_row(plan, trial.config, trial.last_result, _trial_error(trial)))

    return LogTrials()


def _trial_error(trial: Any) -> BaseException | str:
    try:
        return trial.get_pickled_error() or trial.get_error() or "failed"
    except Exception:  # an unreadable error file: the trial still failed
        return "failed"


def _record(plan: Plan, row: dict[str, Any]) -> None:
    """A trial Tune reported as ended (finished, stopped early or failed); one it stopped for
    Ctrl-C is never reported, so `plan.complete()` then tells the run was interrupted."""
    if row["trial"] >= 0:
        if plan.resumable:
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
            search_alg, num_samples = optuna_searcher(spec, plan, cont)
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


def _row(plan: Plan, result: Any) -> dict[str, Any]:
    return make_row(plan, result.config, result.metrics, result.error)


def make_row(plan: Plan, config: dict[str, Any] | None, metrics: dict[str, Any] | None,
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
    row.update(scalar_metrics(metrics))
    row["frame"] = metrics.get("frame", 0)
    if error is not None:
        row["error"] = _one_line(error)
    row["trial_dir"] = plan.trial_dir(index).name
    return row


def _one_line(error: BaseException | str) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else type(error).__name__
