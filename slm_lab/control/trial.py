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
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from slm_lab.control.progress import TrialProgress
from slm_lab.control.session import Session, SessionDiverged, run_session
from slm_lab.lib import io
from slm_lab.lib.logger import get_logger, log_to_file
from slm_lab.lib.seeding import derive_seed
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
    return [trial_dir / f"session_{s}" for s in range(n)]


def _record_failure(session_dir: Path, index: int, exc: BaseException | str) -> str:
    message = str(exc) if isinstance(exc, (SessionDiverged, str)) else f"{type(exc).__name__}: {exc}"
    detail = message if isinstance(exc, str) else "".join(traceback.format_exception(exc))
    io.write_text(session_dir / "error.txt", detail + "\n")
    logger.error(f"session {index} failed: {message}")
    return message


class Trial:
    """Runs the sessions of one spec and writes the trial folder."""

    def __init__(self, spec: Spec, trial_dir: Path, trial_index: int = 0, show_progress: bool | None = None) -> None:
        self.spec = resolve_seeds(spec, trial_index)
        self.dir = Path(trial_dir)
        self.index = trial_index
        self.show_progress = sys.stderr.isatty() if show_progress is None else show_progress
        self.failed: dict[int, str] = {}

    def run(self) -> dict[str, Any]:
        self.dir.mkdir(parents=True, exist_ok=True)
        io.write_json(self.dir / "spec.json", self.spec.model_dump(mode="json"))
        n = self.spec.meta.max_session
        dirs = session_dirs(self.dir, n)
        from slm_lab.analysis import random_baseline

        random_baseline(self.spec.env[0])  # measured once here, not once per parallel session
        with TrialProgress(self.spec, self.show_progress) as progress:
            if n == 1:
                self._run_in_process(dirs[0], progress)
            else:
                self._run_parallel(dirs, progress)
        from slm_lab.analysis import trial_end

        metrics = trial_end(self.dir, self.spec, dirs, self.failed)
        logger.info(f"trial {self.index} done: {n - len(self.failed)}/{n} sessions finished, results in {self.dir}")
        return metrics

    def _run_in_process(self, session_dir: Path, progress: TrialProgress) -> None:
        with log_to_file(session_dir / "session.log"):
            try:
                Session(self.spec, session_dir, self.index, 0, progress.update).run()
            except Exception as e:  # recorded in the session folder; the trial still reports
                self.failed[0] = _record_failure(session_dir, 0, e)

    def _run_parallel(self, dirs: list[Path], progress: TrialProgress) -> None:
        ctx = mp.get_context("spawn")
        workers = max(1, min(len(dirs), os.cpu_count() or 1))
        spec_dict = self.spec.model_dump(mode="json")
        level = logging.getLogger("slm_lab").getEffectiveLevel()
        with ctx.Manager() as manager, ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            updates = manager.Queue()
            futures = {
                pool.submit(run_session, spec_dict, str(d), self.index, s, updates, level, not self.show_progress): s
                for s, d in enumerate(dirs)
            }
            try:
                pending = set(futures)
                while pending:
                    self._drain(updates, progress, timeout=0.2)
                    for fut in [f for f in pending if f.done()]:
                        pending.discard(fut)
                        s = futures[fut]
                        exc = fut.exception()
                        if exc is not None:
                            self.failed[s] = _record_failure(dirs[s], s, exc)
                self._drain(updates, progress, timeout=0.0)
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    @staticmethod
    def _drain(updates: Any, progress: TrialProgress, timeout: float) -> None:
        try:
            idx, info = updates.get(timeout=timeout) if timeout else updates.get_nowait()
            progress.update(idx, info)
            while True:
                idx, info = updates.get_nowait()
                progress.update(idx, info)
        except queue_mod.Empty:
            pass
