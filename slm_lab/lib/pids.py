"""Pid files of the lab's own processes, run-folder locks, and a parent-death watchdog.

Every process the lab starts (a `slm-lab run`, each spawned session, the multiprocessing
manager, Ray or Unity processes it launched) writes `<cache>/run/pids/<host>-<pid>.json`
and removes it on a clean exit. `slm-lab kill` stops exactly the processes listed there,
never processes found by a name pattern. A pid file also records the process start time:
a pid the OS has since reused for another program does not match and is never signalled.

Kept free of heavy imports (the CLI uses it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from slm_lab.lib import io
from slm_lab.lib.config import run_state_dir

LOCK_NAME = ".lock"


def pid_dir() -> Path:
    return run_state_dir() / "pids"


def _host() -> str:
    return socket.gethostname()


def start_token(pid: int) -> str | None:
    """When process `pid` started, as an opaque string; None if there is no such process.

    Linux: field 22 of /proc/<pid>/stat (clock ticks after boot); elsewhere `ps -o lstart=`.
    """
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self/stat").exists():
        try:
            text = stat.read_text()
        except OSError:
            return None
        # the command name (field 2) may contain spaces and parentheses: split after the last ')'
        fields = text[text.rfind(")") + 2:].split()
        return fields[19] if len(fields) > 19 else None
    try:
        out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class LabProcess:
    """One pid file: a process the lab started."""

    pid: int
    kind: str  # run | session | worker | ray | unity
    start: str | None
    cmd: str
    run_dir: str | None
    path: Path

    def alive(self) -> bool:
        """Still running and still the same process (not a reused pid)."""
        token = start_token(self.pid)
        return token is not None and (self.start is None or token == self.start)


def register(kind: str, pid: int | None = None, run_dir: str | Path | None = None, cmd: str | None = None) -> Path:
    """Write the pid file of `pid` (default: this process). Returns its path."""
    pid = pid or os.getpid()
    path = pid_dir() / f"{_host()}-{pid}.json"
    record = {
        "pid": pid, "kind": kind, "host": _host(), "start": start_token(pid),
        "cmd": cmd if cmd is not None else (" ".join(sys.argv) if pid == os.getpid() else ""),
        "run_dir": str(run_dir) if run_dir is not None else None, "written": time.time(),
    }
    io.write_json(path, record)
    return path


def unregister(pid: int | None = None) -> None:
    (pid_dir() / f"{_host()}-{pid or os.getpid()}.json").unlink(missing_ok=True)


@contextlib.contextmanager
def registered(kind: str, run_dir: str | Path | None = None) -> Iterator[Path]:
    """This process is listed while inside the block; the file goes on any clean exit."""
    path = register(kind, run_dir=run_dir)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def register_children(kind: str = "worker", run_dir: str | Path | None = None) -> list[int]:
    """List this process's live multiprocessing children (pool workers, the manager)."""
    import multiprocessing as mp

    pids = [p.pid for p in mp.active_children() if p.pid is not None]
    for pid in pids:
        register(kind, pid, run_dir, cmd=f"child of {os.getpid()}")
    return pids


def register_ray_processes(run_dir: str | Path | None = None) -> list[int]:
    """After `ray.init()` started a local Ray, list the processes it started (GCS, raylet, ...).

    Ray started elsewhere (`--ray-address`) is not ours to stop and has no local processes here.
    """
    try:
        import ray._private.worker as ray_worker

        node = ray_worker._global_node
        infos = [info for group in (node.all_processes if node is not None else {}).values() for info in group]
    except Exception:  # a Ray version without this internal: nothing listed, nothing later killed
        return []
    pids = [info.process.pid for info in infos if getattr(info, "process", None) is not None]
    for pid in pids:
        register("ray", pid, run_dir, cmd="ray")
    return pids


def list_processes(clean: bool = True) -> list[LabProcess]:
    """The lab processes of this host that are still running; stale pid files are removed."""
    out = []
    host = _host()
    for path in sorted(pid_dir().glob("*.json")) if pid_dir().is_dir() else []:
        try:
            data = io.read_json(path)
            record = LabProcess(int(data["pid"]), str(data["kind"]), data.get("start"), str(data.get("cmd", "")),
                                data.get("run_dir"), path)
            if data.get("host") != host:
                continue  # a shared cache dir: another machine's process
        except (OSError, ValueError, KeyError, TypeError):
            if clean:
                path.unlink(missing_ok=True)
            continue
        if record.pid != os.getpid() and record.alive():
            out.append(record)
        elif clean and record.pid != os.getpid():
            path.unlink(missing_ok=True)
    return out


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (children first), read from /proc: Ray's agents and the
    multiprocessing helpers a run started are stopped with it. [] where /proc is missing."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo += children.get(child, [])
    return found


def with_descendants(processes: list[LabProcess]) -> list[LabProcess]:
    """`processes`, then their descendants that have no pid file of their own (as kind 'child')."""
    listed = {p.pid for p in processes}
    extra = []
    for p in processes:
        for pid in descendants(p.pid):
            if pid not in listed and pid != os.getpid():
                listed.add(pid)
                extra.append(LabProcess(pid, "child", start_token(pid), f"child of {p.pid}", p.run_dir, Path(os.devnull)))
    return processes + extra


def stop(processes: list[LabProcess], grace_s: float = 5.0) -> list[LabProcess]:
    """SIGTERM each process, SIGKILL those still alive after `grace_s`. Returns those stopped."""
    stopped = []
    for p in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if p.alive():
                os.kill(p.pid, signal.SIGTERM)
                stopped.append(p)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(p.alive() for p in stopped):
        time.sleep(0.1)
    for p in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if p.alive():
                os.kill(p.pid, signal.SIGKILL)
    for p in processes:
        if p.path != Path(os.devnull):
            p.path.unlink(missing_ok=True)
    return stopped


# --- run-folder lock ------------------------------------------------------------------------


class RunInUse(RuntimeError):
    """Another live process holds the run folder's lock."""


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on `<run_dir>/.lock` while inside: one writer per run folder.

    The OS drops the lock when its process dies, however it dies, so a killed run never
    leaves a folder locked. No-op where fcntl is missing (Windows).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        yield
        return
    path = Path(run_dir) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUse(f"run folder {run_dir} is in use by another lab process (stop it with slm-lab kill)") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_locked(run_dir: str | Path) -> bool:
    """True while a live process holds the run folder's lock. Creates nothing (a check)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system
        return False
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:  # a holder would have created it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


# --- orphans ----------------------------------------------------------------------------------


_watching = False


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Exit this process soon after its parent dies (however the parent died).

    A spawned session whose `slm-lab run` was killed would otherwise keep training and
    writing into a run folder that a resumed run now owns.
    """
    global _watching
    if _watching:  # a pool worker runs several sessions: one watcher is enough
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(1)  # the parent is gone: no cleanup that could write into the run folder

    threading.Thread(target=watch, name="slm_lab-exit-with-parent", daemon=True).start()


def describe(p: LabProcess) -> dict[str, Any]:
    return {"pid": p.pid, "kind": p.kind, "cmd": p.cmd, "run_dir": p.run_dir}
