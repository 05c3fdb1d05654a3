"""Safe-point stops (lib/signals.py): the first signal only asks, a second one interrupts, and a
pool worker keeps a stop that came before its session's handler was in place."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Iterator

import pytest

from spec_helpers import tiny_spec
from slm_lab.control.session import Session, SessionInterrupted
from slm_lab.lib import signals
from slm_lab.lib.signals import defer_interrupts, stop_signals
from slm_lab.spec.loader import validate


@pytest.fixture(autouse=True)
def restored_handlers() -> Iterator[None]:
    """Each test changes this process's handlers: put pytest's back, and forget any kept stop."""
    previous = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)
    signals._deferred.signum = None


def test_the_first_signal_asks_for_a_stop_and_a_second_interrupts_at_once():
    with stop_signals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is not stop._handle  # the region put the old handler back


def test_a_worker_keeps_a_stop_that_comes_before_its_region_and_the_region_starts_stopped():
    defer_interrupts()
    os.kill(os.getpid(), signal.SIGINT)  # the worker lives on
    os.kill(os.getpid(), signal.SIGINT)  # a second one before the region does not raise either
    with stop_signals() as stop:
        assert stop.requested and stop.signum == signal.SIGINT
    with stop_signals() as later:  # the kept stop is taken once
        assert not later.requested


def test_a_session_stopped_while_it_builds_stops_at_its_first_safe_point_and_resumes(tmp_path: Path):
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000},
                    meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2})
    spec = validate(raw)
    defer_interrupts()
    os.kill(os.getpid(), signal.SIGINT)  # what the trial forwards while this session is still building
    with pytest.raises(SessionInterrupted, match="stopped at frame 0"):
        Session(spec, tmp_path / "s0").run()
    assert (tmp_path / "s0" / "model" / "checkpoint.pt").is_file()
    Session(spec, tmp_path / "s0", resume=True).run()
    assert (tmp_path / "s0" / "session_done.json").is_file()
