"""Child processes in tests: deadlines that guard against hangs, and no child left behind.

A deadline here is a hang guard, never a speed check: CI machines differ several-fold in speed
(and a loaded one more), so a wait for progress allows minutes. A test that fails mid-way must
still end the run it started, or its sessions train on and slow every later test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

PROGRESS_TIMEOUT_S = 600.0


@contextmanager
def running(cmd: list[str], **popen_kwargs: Any) -> Iterator[subprocess.Popen]:
    """`cmd` in its own process group; on leaving, whatever of the group still runs is killed."""
    proc = subprocess.Popen(cmd, start_new_session=True, **popen_kwargs)
    try:
        yield proc
    finally:
        try:  # the group, not only its leader: a session the leader spawned may outlive it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # every process of the group had ended
            pass
        proc.wait()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = PROGRESS_TIMEOUT_S,
             proc: subprocess.Popen | None = None) -> Any:
    """Poll `predicate` until it is truthy (returned); fails naming `what` after `timeout`, or at
    once if `proc` has ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
