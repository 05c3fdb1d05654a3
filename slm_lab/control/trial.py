"""Trial: one spec, `meta.max_session` Sessions with different seeds, aggregated.

Sessions run in parallel spawned processes bounded by the CPU count; a one-session trial
runs in-process (easy to debug). A session that crashes or diverges is recorded; the
others finish and the trial metrics say how many failed.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from slm_lab.control import checkpoint
from slm_lab.control.progress import TrialProgress
from slm_lab.control.pairs import pair_labels, pair_spec, team_spec
from slm_lab.control.session import ProgressFn, Session, SessionDiverged, freeze_before_first_session, run_session
from slm_lab.lib import io, pids
from slm_lab.lib.layout import RunLayout, SessionLayout, pair_name, team_name
from slm_lab.lib.logger import get_logger, log_to_file
from slm_lab.lib.signals import stop_signals
from slm_lab.lib.seeding import derive_seed
from slm_lab.lib.spawn import clean_main, helper_process_init, session_worker_init
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)


def resolve_seeds(spec: Spec, trial: int) -> Spec:
    """Record the trial index and each session's seed in the spec that is saved."""
    resolved = dict(spec.meta.resolved)
    resolved.update({
        "trial": trial,
        "session_seeds": [derive_seed(spec.meta.seed, trial, s) for s in range(spec.meta.max_session)],
    })
    return spec.model_copy(update={"meta": spec.meta.model_copy(update={"resolved": resolved})})


def session_dirs(trial_dir: Path, n: int) -> list[Path]:
    return [RunLayout(Path(trial_dir)).session(s).dir for s in range(n)]


class TrialInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the trial's sessions at safe points; each kept its checkpoint."""


def start_progress_manager(ctx: Any) -> SyncManager:
    """The process that carries the sessions' progress updates to the trial. It exits by itself
    if this process dies, like the sessions do, and imports neither torch nor the lab's agents."""
    manager = SyncManager(ctx=ctx)
    with clean_main():  # a caller without a main guard (script, notebook, stdin) is not re-run in the children
        manager.start(helper_process_init)
    return manager


def _interrupt(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGINT)
    except (ProcessLookupError, PermissionError):
        pass


def _record_failure(session_dir: Path, index: int, exc: BaseException | str) -> str:
    message = str(exc) if isinstance(exc, (SessionDiverged, str)) else f"{type(exc).__name__}: {exc}"
    # line 1: the reason in one line (what the trial metrics and a resume report); then the details
    detail = message if isinstance(exc, str) else f"{message}\n\n" + "".join(traceback.format_exception(exc))
    io.write_text(SessionLayout(Path(session_dir)).error_file, detail + "\n")
    logger.error(f"session {index} failed: {message}")
    return message


class _Tee:
    """Session progress to the progress bar and to the trial's `on_progress` listener."""

    def __init__(self, bar: TrialProgress, listener: ProgressFn) -> None:
        self.bar, self.listener = bar, listener

    def report(self, session: int, info: dict[str, Any]) -> None:
        self.bar.report(session, info)
        self.listener(session, info)


class Trial:
    """Runs the sessions of one spec and writes the trial folder."""

    def __init__(self, spec: Spec, trial_dir: Path, trial_index: int = 0, show_progress: bool | None = None,
                 resume: bool = False, on_progress: ProgressFn | None = None, ray_address: str | None = None) -> None:
        self.spec = resolve_seeds(spec, trial_index)
        self.ray_address = ray_address  # run the sessions as Ray tasks on that cluster (control/ray_sessions.py)
        # also told every session's progress (frame, return_ma): a search reports it to Ray Tune
        self.on_progress = on_progress
        self.resume = resume  # keep finished sessions, continue the others (control/resume.py)
        self.dir = Path(trial_dir)
        self.index = trial_index
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress
        self.failed: dict[int, str] = {}

    def run(self) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        # one writer per run folder (the OS drops the lock if this process dies); a pid file for `slm-lab kill`
        with pids.run_lock(self.dir), pids.registered("trial", self.dir):
            return self._run()

    def _run(self) -> dict[str, Any]:
        io.write_json(RunLayout(self.dir).spec_json, self.spec.model_dump(mode="json"))
        n = self.spec.meta.max_session
        dirs = session_dirs(self.dir, n)
        todo = self._sessions_to_run(dirs)
        from slm_lab.analysis import random_baseline

        for env_spec in self.spec.env:  # measured once here, not once per parallel session
            random_baseline(env_spec)
        from slm_lab.spec.aeb_check import pair_bodies

        for a, e in pair_labels(self.spec):  # and each agent's own bodies of a multi-agent env
            random_baseline(self.spec.env[e], bodies=pair_bodies(self.spec, a, e))
        with TrialProgress(self.spec, self.show_progress) as bar:
            progress = bar if self.on_progress is None else _Tee(bar, self.on_progress)
            if self.ray_address and todo:
                from slm_lab.control.ray_sessions import run_sessions_on_ray

                for s, reason in run_sessions_on_ray(self.spec, self.dir, self.index, todo, self.ray_address, self.resume).items():
                    self.failed[s] = _record_failure(dirs[s], s, reason)
            elif n == 1 and todo:
                self._run_in_process(dirs[0], progress)
            elif todo:
                self._run_parallel(dirs, progress, todo)
        from slm_lab.analysis import trial_end

        labels = pair_labels(self.spec)
        if not labels:
            metrics = trial_end(self.dir, self.spec, dirs, self.failed)
        else:  # one aggregate per (agent, env) pair, in a folder of the same name
            pairs = {pair_name(a, e): trial_end(RunLayout(self.dir).pair(a, e).dir, pair_spec(self.spec, a, e),
                                                [SessionLayout(d).pair(a, e).dir for d in dirs], self.failed)
                     for a, e in labels}
            metrics = {**next(iter(pairs.values())), "pairs": pairs}
            from slm_lab.spec.aeb_check import team_envs

            teams = {team_name(t, e): trial_end(RunLayout(self.dir).team(t, e).dir, team_spec(self.spec, t, e, members),
                                                [SessionLayout(d).team(t, e).dir for d in dirs], self.failed)
                     for t, e, members in team_envs(self.spec)}
            if teams:
                metrics["teams"] = teams
            io.write_json(RunLayout(self.dir).trial_metrics_json, {"pairs": pairs, **({"teams": teams} if teams else {}), "failed": self.failed})
        from slm_lab.analysis.tracking import log_trial

        log_trial(self.dir, self.spec)  # meta.tracking: MLflow / W&B (a no-op when unset)
        logger.info(f"trial {self.index} done: {n - len(self.failed)}/{n} sessions finished, results in {self.dir}")
        # what failed, in one line each: the caller's exit status says so (0 only when all finished)
        metrics["failed_sessions"] = {s: msg.splitlines()[0] for s, msg in sorted(self.failed.items())}
        return metrics

    def _sessions_to_run(self, dirs: list[Path]) -> list[int]:
        """All sessions; on resume those not finished, with failed ones recorded as failed."""
        if not self.resume:
            return list(range(len(dirs)))
        checkpoint.remove_temp_files(self.dir)
        todo = []
        for s, d in enumerate(dirs):
            status = checkpoint.session_status(d, self.spec.env[0].max_frame)
            if status == "failed":
                self.failed[s] = checkpoint.failure_message(d)
                logger.info(f"session {s} failed before ({self.failed[s]}); delete {SessionLayout(d).error_file} to retry it")
            elif status == "todo":
                todo.append(s)
        logger.info(f"resuming trial {self.index} in {self.dir}: sessions to run {todo}")
        return todo

    def _run_in_process(self, session_dir: Path, progress: TrialProgress) -> None:
        freeze_before_first_session(self.spec)
        with log_to_file(SessionLayout(session_dir).log_file):
            try:
                Session(self.spec, session_dir, self.index, 0, progress.report, self.resume).run()
            except Exception as e:  # recorded in the session folder; the trial still reports
                self.failed[0] = _record_failure(session_dir, 0, e)

    def _run_parallel(self, dirs: list[Path], progress: TrialProgress, todo: list[int] | None = None) -> None:
        ctx = mp.get_context("spawn")
        workers = max(1, min(len(dirs), os.cpu_count() or 1))
        spec_dict = self.spec.model_dump(mode="json")
        level = logging.getLogger("slm_lab").getEffectiveLevel()
        manager = start_progress_manager(ctx)
        interrupted: list[int] = []
        with manager, ProcessPoolExecutor(workers, mp_context=ctx, initializer=session_worker_init) as pool, \
                stop_signals() as stop:
            updates = manager.Queue()
            queued = list(range(len(dirs)) if todo is None else todo)
            futures: dict[Any, int] = {}

            def submit_next() -> None:
                # one session per free worker, never queued ahead: a stop then starts nothing new
                s = queued.pop(0)
                with clean_main():  # the pool spawns a worker as a session is submitted
                    futures[pool.submit(run_session, spec_dict, str(dirs[s]), self.index, s, updates, level,
                                        not self.show_progress, self.resume)] = s

            for _ in range(min(workers, len(queued))):
                submit_next()
            children = pids.register_children("worker", self.dir)  # the pool's workers and the manager
            try:
                pending, forwarded = set(futures), False
                while pending:
                    if stop.requested and not forwarded:
                        forwarded = True
                        queued.clear()  # sessions not started stay to do: train@ runs them
                        if stop.signum != signal.SIGINT:  # Ctrl-C reaches the sessions by itself; SIGTERM does not
                            for pid in children:
                                _interrupt(pid)
                    self._drain(updates, progress, timeout=0.2)
                    for fut in [f for f in pending if f.done()]:
                        pending.discard(fut)
                        s = futures[fut]
                        exc = fut.exception()
                        if isinstance(exc, KeyboardInterrupt):
                            interrupted.append(s)  # stopped at a safe point, checkpoint kept: resumable
                        elif exc is not None:
                            self.failed[s] = _record_failure(dirs[s], s, exc)
                        if queued and not stop.requested:
                            submit_next()
                            pending.add(next(reversed(futures)))
                self._drain(updates, progress, timeout=0.0)
            finally:
                for pid in children:
                    pids.unregister(pid)
        if stop.requested:
            raise TrialInterrupted(f"trial {self.index}: sessions {sorted(interrupted)} stopped")

    @staticmethod
    def _drain(updates: Any, progress: TrialProgress, timeout: float) -> None:
        try:
            idx, info = updates.get(timeout=timeout) if timeout else updates.get_nowait()
            progress.report(idx, info)
            while True:
                idx, info = updates.get_nowait()
                progress.report(idx, info)
        except queue_mod.Empty:
            pass
