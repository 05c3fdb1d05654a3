"""The garbage collector in the lab's own processes (lib/collector.py): paused while they set
up, their long-lived objects frozen before the first session builds, a session's own objects
never frozen, and other processes (a notebook, these tests) left alone.

Each case runs in a fresh interpreter: the collector's state is the process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, tmp_path: Path) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object last."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=PROGRESS_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tiny_a2c(max_frame: int = 400) -> dict:
    return tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": max_frame},
                     meta={"max_session": 1, "log_frequency": 200, "eval_frequency": max_frame, "eval_episodes": 2})


def test_a_process_that_never_paused_keeps_its_collector(tmp_path: Path):
    out = run_python("""
        import gc, json, sys
        from slm_lab.lib import collector
        collector.freeze()
        collector.freeze_before_session(trains=True)
        print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                          "dynamo": "torch._dynamo" in sys.modules}))
    """, tmp_path)
    assert out == {"enabled": True, "frozen": 0, "dynamo": False}


def test_pause_then_freeze_frees_the_garbage_and_freezes_what_lives(tmp_path: Path):
    out = run_python("""
        import gc, json, weakref
        from slm_lab.lib import collector
        class Node: pass
        collector.pause()
        paused = not gc.isenabled()
        kept, dropped = Node(), Node()
        kept.me, dropped.me = kept, dropped  # two reference cycles: only the collector frees one
        gone = weakref.ref(dropped)
        del dropped
        collector.freeze()
        print(json.dumps({"paused": paused, "enabled": gc.isenabled(), "garbage_freed": gone() is None,
                          # a frozen object is out of the generations the collector walks
                          "kept_frozen": gc.get_freeze_count() > 0 and not any(o is kept for o in gc.get_objects())}))
    """, tmp_path)
    assert out == {"paused": True, "enabled": True, "garbage_freed": True, "kept_frozen": True}


# a Session that records itself and sits in a reference cycle: only the collector can free it,
# and it cannot once the Session is frozen
PROBE = """
import gc, weakref
from slm_lab.control import session as session_module
made = []
class ProbeSession(session_module.Session):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.me = self
        made.append(weakref.ref(self))
session_module.Session = ProbeSession
"""


def test_a_worker_frees_each_session_it_ran(tmp_path: Path):
    """A pool worker: paused by its initializer, frozen before its first session exists; each
    session is collected once it is done, and later sessions freeze nothing more."""
    spec = {**tiny_a2c(), "name": "gc_probe"}
    out = run_python(PROBE + f"""
import json, sys
from slm_lab.lib.spawn import session_worker_init
session_worker_init()
paused = not gc.isenabled()
session_module.run_session({spec!r}, "s0", 0, 0, log_to_stderr=False)
frozen = gc.get_freeze_count()
session_module.run_session({spec!r}, "s1", 0, 1, log_to_stderr=False)
gc.collect()
print(json.dumps({{"paused": paused, "enabled": gc.isenabled(), "frozen": frozen, "grew": gc.get_freeze_count() > frozen,
                  "freed": [ref() is None for ref in made], "dynamo": "torch._dynamo" in sys.modules}}))
""", tmp_path)
    assert out["paused"] and out["enabled"] and out["dynamo"]
    assert out["frozen"] > 100_000, out  # torch, torch._dynamo and the lab: what the process keeps to its end
    assert out["freed"] == [True, True] and not out["grew"], out


def test_the_cli_run_ends_its_pause_freezes_its_imports_and_frees_its_session(tmp_path: Path):
    """The real entry point, as the console script calls it; the state is read at exit."""
    spec_file = write_spec_file(tmp_path / "a2c.json", {"a2c_tiny": tiny_a2c()})
    out = run_python(PROBE + f"""
import atexit, json, sys
state = {{}}
def report():
    gc.collect()
    state.update(enabled=gc.isenabled(), frozen=gc.get_freeze_count(), freed=[ref() is None for ref in made])
    print(json.dumps(state))
atexit.register(report)
from slm_lab.cli import app
sys.argv = ["slm-lab", "run", {str(spec_file)!r}, "a2c_tiny", "train"]
try:
    state["status"] = app()
except SystemExit as e:
    state["status"] = e.code
""", tmp_path)
    assert out["status"] in (0, None), out
    assert out["enabled"] and out["frozen"] > 100_000, out
    assert out["freed"] == [True], out


def test_a_random_player_session_does_not_import_dynamo(tmp_path: Path):
    """Only a session that builds optimizers needs torch._dynamo (~1 s and ~70 MiB to import)."""
    spec = {**tiny_spec({"name": "Random"}, {"name": "OnPolicyBatchReplay"},
                        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 200},
                        meta={"max_session": 1, "log_frequency": 100, "eval_frequency": 200, "eval_episodes": 2}),
            "name": "random_probe"}
    out = run_python(f"""
        import gc, json, sys
        from slm_lab.lib.spawn import session_worker_init
        session_worker_init()
        from slm_lab.control.session import run_session
        run_session({spec!r}, "s0", 0, 0, log_to_stderr=False)
        print(json.dumps({{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count() > 0,
                          "dynamo": "torch._dynamo" in sys.modules}}))
    """, tmp_path)
    assert out == {"enabled": True, "frozen": True, "dynamo": False}
