"""Ctrl-C and SIGTERM stop a run at a safe point instead of anywhere.

Inside `stop_signals()` the first SIGINT or SIGTERM only sets `requested` (and remembers which
one came); the code that holds it polls the flag where its state is whole (a session between
two steps, a trial between two polls of its sessions) and stops there, keeping a checkpoint.
A second signal raises KeyboardInterrupt at once, for a user who will not wait.
A pool worker (`defer_interrupts`) keeps a stop that comes before its session's region is in
place (while the session still builds its env and agent), so the region starts stopped: a
forwarded stop is never lost to a slow start.
Handlers can only be installed in a process's main thread; elsewhere this does nothing.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for a job stopped by Ctrl-C


class StopRequest:
    """Whether a stop was asked for, and by which signal."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def _keep(self, signum: int, frame: Any) -> None:
        self.signum = self.signum or signum


_deferred = StopRequest()  # a stop this process got outside any stop_signals() region


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.signal(s, stop._handle) for s in STOP_SIGNALS}
    stop.signum, _deferred.signum = _deferred.signum, None  # a stop kept from before the region
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def ignore_interrupts() -> None:
    """For helper processes (a pool's idle workers, the progress manager): the terminal's Ctrl-C
    reaches every process of the group, and these must outlive it until their parent is done."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def defer_interrupts() -> None:
    """For a pool's session workers: like `ignore_interrupts`, the worker outlives a Ctrl-C, but
    the stop is kept for the next stop_signals() region instead of dropped. A stop forwarded while
    a session still builds (seconds on a loaded machine) then stops it at its first safe point."""
    signal.signal(signal.SIGINT, _deferred._keep)


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handled as SIGINT is handled now: by whoever holds SIGINT (Ray Tune stops its trials
    cleanly on it), else as a KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM acts as Ctrl-C does (KeyboardInterrupt) outside the safe-point regions, so a
    `kill` ends a run through the same path: cleanup, pid files removed, one line, exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
