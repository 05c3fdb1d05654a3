"""Start spawned processes that do not re-run the caller's `__main__`.

A spawned child imports the parent's main module again (as `__mp_main__`) to find pickled
functions. For a script without an `if __name__ == "__main__":` guard, a notebook or stdin
that re-run is the caller's whole program: it starts the run again inside the child, which
dies while bootstrapping and leaves the parent with an EOFError. The lab's process entry
points live in importable modules, so the children never need the caller's `__main__`:
while they start, the parent presents a bare main module instead.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator


@contextlib.contextmanager
def clean_main() -> Iterator[None]:
    """Within this block, processes started with the spawn or forkserver method see an empty
    `__main__` (no file, no module spec), so they import only what their target needs."""
    real = sys.modules.get("__main__")
    bare = types.ModuleType("__main__")
    bare.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = bare
    try:
        yield
    finally:
        if real is not None:
            sys.modules["__main__"] = real


def helper_process_init() -> None:
    """Initializer of a helper process (the trial's progress-queue manager): Ctrl-C is the
    parent's to handle, and the helper exits with its parent. It lives here, in a module that
    imports almost nothing, because a spawned process imports its initializer's module: from
    control/trial.py that was torch and the whole lab, ~240 MiB for a process serving a queue."""
    from slm_lab.lib import pids
    from slm_lab.lib.signals import ignore_interrupts

    ignore_interrupts()
    pids.exit_with_parent()


def session_worker_init() -> None:
    """Initializer of a trial's session worker: a stop is kept for the session's own stop
    region (lib/signals.py), and the garbage collector is paused until the worker has imported
    what its first session needs (lib/collector.py: the session freezes before it builds)."""
    from slm_lab.lib import collector
    from slm_lab.lib.signals import defer_interrupts

    defer_interrupts()
    collector.pause()
