"""Run one job: a spec in a mode. Everything is validated before anything is written."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from slm_lab.lib.layout import RunLayout, SessionLayout
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.control.preflight import (check_fits_memory, check_folder_writable, check_memory_files, check_model,
                                      check_resume_checkpoints, discarded_if_unused, start_run_dir)
from slm_lab.lib.signals import terminate_as_interrupt
from slm_lab.spec.errors import RunInterrupted, SpecError
from slm_lab.spec.loader import check_env_names, load_spec
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

MODES = ("dev", "train", "train@<run dir | latest>", "enjoy@<session dir>", "search", "search@<experiment dir | latest>",
         "benchmark")


@dataclass(frozen=True)
class Mode:
    kind: str  # dev | train | enjoy | search | benchmark
    target: str | None = None  # enjoy@<session dir>; train@<run dir> and search@<experiment dir> resume


def parse_mode(text: str) -> Mode:
    kind, sep, target = text.partition("@")
    if kind == "enjoy":
        if not sep or not target:
            raise SpecError("mode 'enjoy' needs a session folder: enjoy@data/<run>/session_0")
        return Mode("enjoy", target)
    if kind in ("dev", "train", "search", "benchmark") and not sep:
        return Mode(kind)
    if kind == "train":  # resume: train@<run dir> or train@latest (control/resume.py)
        if not target:
            raise SpecError("mode 'train@' needs a run folder: train@data/<run> or train@latest")
        return Mode("train", target)
    if kind == "search":  # resume: search@<experiment dir> or search@latest (control/search_resume.py)
        if not target:
            raise SpecError("mode 'search@' needs an experiment folder: search@data/<experiment> or search@latest")
        return Mode("search", target)
    raise SpecError(f"mode '{text}' is not one of: {', '.join(MODES)}")


def find_model(target: str) -> Path:
    """The checkpoint to replay: <session dir>/model/best.pt (or latest.pt); a trial dir means session_0."""
    path = Path(target)
    if path.is_file() and path.suffix == ".pt":
        return path
    session = RunLayout(path).session(0) if RunLayout(path).session(0).dir.is_dir() else SessionLayout(path)
    for kind in ("best", "latest"):
        if session.agent_model(0, kind).is_file():
            return session.agent_model(0, kind)
    raise SpecError(f"enjoy: no saved model in '{target}' (expected {SessionLayout(Path(target)).agent_model(0, 'best')} "
                    "from a train run)")


def prepare(spec_file: str, spec_name: str, mode_text: str, overrides: list[str] | None = None,
            variables: dict[str, Any] | None = None) -> tuple[Spec | list[Spec], Mode]:
    """Validate everything a run needs; raises SpecError with a one-line message.

    A benchmark is prepared as the list of its trials' specs (one per spec_params value)."""
    mode = parse_mode(mode_text)
    if mode.kind == "benchmark":
        from slm_lab.control.benchmark import prepare_benchmark

        specs = prepare_benchmark(spec_file, spec_name, overrides, variables)
        for trial_spec in specs:
            check_fits_memory(trial_spec)
        return specs, mode
    if mode.kind == "train" and mode.target is not None:
        spec, run_dir = prepare_resume(spec_file, spec_name, mode.target or "", overrides, variables)
        return spec, Mode("train", str(run_dir))  # `latest` resolved once, here
    if mode.kind == "search" and mode.target is not None:
        from slm_lab.control.search_resume import prepare_search_resume

        spec, exp_dir = prepare_search_resume(spec_file, spec_name, mode.target, overrides, variables)
        return spec, Mode("search", str(exp_dir))
    spec = load_spec(spec_file, spec_name, overrides, variables, mode=mode.kind)
    check_new_run(spec, mode)
    return spec, mode


def check_new_run(spec: Spec, mode: Mode) -> None:
    """What a validated spec must pass before a new run (or an enjoy) starts: the CLI and the
    Python API both check here, so they refuse the same specs."""
    from slm_lab.agent.algorithm import check_action_spaces

    check_env_names(spec)
    check_action_spaces(spec)  # e.g. SAC-continuous on CartPole: refused before anything is written
    if mode.kind == "enjoy":
        check_model(find_model(mode.target or ""), spec)
    else:
        check_fits_memory(spec)
    if mode.kind == "search" and not spec.search:
        raise SpecError(f"{spec.name}: search mode needs a search block, like "
                        "\"search\": {\"agent.0.algorithm.gamma__uniform\": [0.9, 0.999]} (docs/SEARCH.md)")


def prepare_resume(spec_file: str, spec_name: str, target: str, overrides: list[str] | None,
                   variables: dict[str, Any] | None) -> tuple[Spec, Path]:
    """train@<run dir | latest>: the spec saved in the run folder (see control/resume.py)."""
    from slm_lab.control.resume import check_resumable, load_saved_spec, resolve_run_dir

    load_spec(spec_file, spec_name, None, variables, mode="train")  # the arguments must still name a valid spec
    run_dir = resolve_run_dir(target, spec_name)
    spec = load_saved_spec(run_dir, spec_name, overrides)
    check_env_names(spec)
    check_fits_memory(spec)
    check_folder_writable(run_dir)  # first: the lock check below opens the run's lock file for writing
    check_resumable(run_dir, spec)
    check_resume_checkpoints(run_dir, spec)
    check_memory_files(run_dir)
    return spec, run_dir


def run(spec: Spec | list[Spec], mode: Mode, show_progress: bool | None = None,
        ray_address: str | None = None) -> dict[str, Any]:
    """Execute a prepared job and return its result (trial metrics, the enjoy return, or the
    summary of a search / benchmark, which run on Ray: `ray_address` joins a cluster)."""
    if mode.kind in ("search", "benchmark"):
        with terminate_as_interrupt():  # SIGTERM stops the trials as Ctrl-C does (Tune's own handler)
            return _run_on_ray(spec, mode, ray_address)
    assert isinstance(spec, Spec)
    if mode.kind == "enjoy":
        return {"mean_return": enjoy(spec, find_model(mode.target or ""))}
    from slm_lab.control.trial import Trial

    level = logging.DEBUG if mode.kind == "dev" else logging.INFO
    if mode.kind == "train" and mode.target is not None:
        from slm_lab.control.resume import resume_trial

        trial_dir = Path(mode.target)
        setup_logging(level, RunLayout(trial_dir).log_txt)  # appends: the log tells both attempts
        logger.info(f"resuming {spec.name} in {trial_dir}")
        with _interruptible(trial_dir):
            metrics = resume_trial(trial_dir, spec, show_progress)
        metrics["run_dir"] = str(trial_dir)
        return metrics
    trial_dir = new_run_folder(spec.name)
    setup_logging(level, RunLayout(trial_dir).log_txt)
    logger.info(f"{mode.kind} {spec.name}: writing to {trial_dir}")
    from slm_lab.control.ray_cluster import ray_address as resolve_address

    with _interruptible(trial_dir), discarded_if_unused(trial_dir):  # refused at start: no half-made folder
        # --ray-address / RAY_ADDRESS: the sessions run as Ray tasks on that cluster (control/ray_sessions.py)
        metrics = Trial(spec, trial_dir, 0, show_progress, ray_address=resolve_address(ray_address)).run()
    metrics["run_dir"] = str(trial_dir)
    return metrics


def _run_on_ray(spec: Spec | list[Spec], mode: Mode, ray_address: str | None) -> dict[str, Any]:
    from slm_lab.control.ray_cluster import ray_address as resolve_address

    if isinstance(spec, list):
        from slm_lab.control.benchmark import run_benchmark

        return run_benchmark(spec, resolve_address(ray_address))
    if mode.target is not None:
        from slm_lab.control.search_resume import resume_experiment

        return resume_experiment(spec, Path(mode.target), resolve_address(ray_address))
    from slm_lab.control.experiment import run_experiment

    return run_experiment(spec, resolve_address(ray_address))


@contextmanager
def _interruptible(trial_dir: Path) -> Iterator[None]:
    """Ctrl-C / SIGTERM during a trial: RunInterrupted, naming the folder that train@ resumes."""
    with terminate_as_interrupt():  # the sessions' loops poll for a stop at their safe points
        try:
            yield
        except KeyboardInterrupt:
            logger.warning(f"interrupted: the sessions kept their checkpoints in {trial_dir}")
            raise RunInterrupted(str(trial_dir), f"train@{trial_dir}") from None


def new_run_folder(name: str) -> Path:
    """A new run folder in the data dir that has taken a file, or a one-line RunFault when the
    data dir cannot take one (read-only, full disk, not a folder): nothing is left behind."""
    return start_run_dir(name)


def enjoy(spec: Spec, model_path: Path, episodes: int | None = None) -> float:
    """Replay a saved model greedily for `episodes` (default meta.eval_episodes) and return the mean."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.session import evaluate, load_checkpoint
    from slm_lab.env import make_env
    from slm_lab.lib.seeding import derive_seed, seed_everything

    seed = derive_seed(spec.meta.seed, 0, 0) + 17
    seed_everything(seed)
    env_space = EnvSpace(spec, seed)
    agent = AgentSpace(spec, env_space, seed).agents[0]
    state = load_checkpoint(model_path)
    agent.load_state_dict(state, weights_only=True)
    # whole games, raw rewards, and the observation statistics the model was trained with
    eval_env = make_env(spec.env[0], seed, num_envs=episodes or spec.meta.eval_episodes, evaluation=True)
    if state.get("env_norm") and hasattr(eval_env, "load_norm_state_dict"):
        eval_env.load_norm_state_dict(state["env_norm"])
    try:
        return evaluate(agent, eval_env)
    finally:
        eval_env.close()
        env_space.close()
