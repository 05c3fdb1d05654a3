"""CPython's cyclic garbage collector in the lab's own processes: paused while they set up, then
the long-lived objects frozen out of its sight.

Why: importing torch and torch._dynamo leaves ~400k objects that live as long as the process
(modules, functions, classes). Every full collection walks all of them again: several times
while they are imported, again after the training loop (drawing the graphs allocates enough to
start one) and once more when the interpreter exits, ~0.6 s for that last one alone. On a
one-session A2C CartPole run of 30k frames that was ~1.3 s of a 6.7 s process with a 2 s
training loop (docs/BENCHMARKS.md, "The garbage collector").

What: a process that exists for the lab's work (the CLI's `run`, a trial's session worker)
calls `pause()` when it starts and `freeze()` once it has imported torch and checked its specs.
`freeze()` collects what is already garbage, moves everything still alive into the collector's
permanent generation (`gc.freeze`, which collections skip) and turns collection back on. Its
first session then calls `freeze_before_session()`, which imports torch._dynamo (its first
optimizer would) and freezes once more, before the session builds anything.

A frozen object is still freed as soon as nothing refers to it; only a reference cycle among
frozen objects would outlive its use. That is why a session's own envs, nets and memories are
never frozen: a worker that runs the next session, or a CLI that runs the next job, must free
this one's. A notebook or the test suite never pauses, so the lab leaves its collector alone
there.
"""

from __future__ import annotations

import gc

_owner = False  # this process paused: the lab's own, where it may freeze
_paused = False
_session_frozen = False


def pause() -> None:
    """No cyclic collections from now until `freeze()`: the imports and set-up that follow
    make long-lived objects, and a collection among them frees almost nothing (measured: a few
    thousand objects of ~400k)."""
    global _owner, _paused
    if _owner:  # once per process
        return
    _owner = _paused = True
    gc.disable()


def freeze() -> None:
    """In a paused process: collect, freeze what is alive, and collect as usual from here on."""
    global _paused
    if not _paused:
        return
    _paused = False
    _freeze()


def freeze_before_session(trains: bool) -> None:
    """Before the first session of the lab's own process builds: import torch._dynamo when the
    session trains (its first torch.optim optimizer imports it: ~150k more long-lived objects),
    then freeze. Later sessions of the process build without this."""
    global _paused, _session_frozen
    if not _owner or _session_frozen:
        return
    _session_frozen, _paused = True, False
    gc.collect()  # nothing that is already garbage is frozen (after the CLI's freeze, a cheap one)
    if trains:
        gc.disable()  # the import makes only long-lived objects: a collection during it freed none (measured)
        import torch._dynamo  # noqa: F401
    gc.freeze()
    gc.enable()


def _freeze() -> None:
    gc.collect()  # nothing that is already garbage is frozen
    gc.freeze()
    gc.enable()
