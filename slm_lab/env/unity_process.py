"""The Unity player as a process: started in its own folder and process group, tied to the
lab's life by a parent-death signal, listed in the lab's pid files, and always cleaned up."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slm_lab.env.unity_protocol import UnityEnvError
from slm_lab.lib import pids
from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)

EXIT_WAIT_S = 2.0  # a player exits within ~0.2 s of EXIT
PR_SET_PDEATHSIG = 1
WORKDIR_PREFIX = "slm-unity-"  # + <env>-<lab pid>-<random>, in the system temp folder


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (dead, waiting to be reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): trust kill()
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _sweep_stale() -> None:
    """Remove the working folders that killed labs could not (their stale pid files are
    removed by `slm_lab.lib.pids.list_processes`)."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = path.name[len(WORKDIR_PREFIX):].split("-")
        if len(owner) >= 3 and owner[-2].isdigit() and not _pid_alive(int(owner[-2])):
            shutil.rmtree(path, ignore_errors=True)


def _pdeathsig_preexec(parent_pid: int) -> Any:
    """A preexec_fn (Linux) making the child get SIGKILL when the lab process dies.

    The libc function is looked up here, in the parent, so the forked child only makes the
    call. If the lab died between fork and prctl, the child exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


@dataclass
class UnityProcess:
    """The resources of one running player (process, sockets, working folder, pid file); held
    apart from UnityEnv so the finalizer that releases them does not keep the env alive."""

    proc: subprocess.Popen | None = None
    listener: socket.socket | None = None
    conn: socket.socket | None = None
    workdir: Path | None = None
    pid_file: Path | None = None
    log_file: Path | None = None
    binary: Path | None = None
    env_label: str = ""
    port: int | None = None
    closed: bool = field(default=False)

    def release(self) -> None:
        """EXIT, wait, kill the process group; remove the pid file and the working folder. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self.conn is not None:
            try:
                self.conn.settimeout(0.5)
                self.conn.sendall(b"EXIT")
            except OSError:
                pass
            self.conn.close()
        if self.listener is not None:
            self.listener.close()
        if self.proc is not None:
            try:
                self.proc.wait(EXIT_WAIT_S if self.conn is not None else 0.0)
            except subprocess.TimeoutExpired:
                pass
            # the group also takes anything the player started; the player is its leader
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                logger.warning("Unity player pid %d did not die after SIGKILL", self.proc.pid)
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, binary: Path, env_label: str, name: str, port: int, timeout_s: float) -> int:
        """Listen on 127.0.0.1:`port` (0: any free port), start the player in its own folder and
        process group, and wait for it to connect. Returns the port."""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.listener.bind(("127.0.0.1", port))  # loopback only: nothing else may drive the env
        except (OSError, OverflowError) as e:
            reason = getattr(e, "strerror", None) or e
            raise UnityEnvError(f"{env_label}: cannot listen on 127.0.0.1:{port}: {reason}") from None
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.binary, self.env_label = binary, env_label
        _sweep_stale()
        # its own folder: the player writes unity-environment.log into its working directory
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{name}-{os.getpid()}-"))
        self.log_file = self.workdir / "player.log"
        cmd = [str(binary), "--port", str(self.port), "-batchmode", "-nographics", "-logFile", str(self.log_file)]
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_pdeathsig_preexec(os.getpid()),
            )
        except OSError as e:
            raise UnityEnvError(f"{env_label}: cannot start {binary}: {e}") from None
        # listed for `slm-lab kill` (lib/pids.py) until release() removes it
        self.pid_file = pids.register("unity", self.proc.pid, cmd=" ".join(cmd))
        # wait in short slices so a player that crashes is reported at once, not at the timeout
        deadline = time.monotonic() + timeout_s
        self.listener.settimeout(0.2)
        while True:
            try:
                self.conn, _ = self.listener.accept()
                break
            except socket.timeout:
                code = self.proc.poll()
                if code is not None:
                    raise self.error(f"Unity player exited with status {code} before connecting")
                if time.monotonic() > deadline:
                    raise self.error(f"Unity player did not connect within {timeout_s:g} s")
        self.listener.close()
        self.listener = None
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.settimeout(timeout_s)
        return self.port

    def error(self, what: str) -> UnityEnvError:
        """An error naming the player, its port and exit status, with the tails of its logs."""
        status = self.proc.poll() if self.proc is not None else None
        where = f"{self.env_label} (player {self.binary}, port {self.port or '?'}"
        where += f", exited {status})" if status is not None else ")"
        parts = [f"{what}: {where}"]
        if self.workdir is not None:
            for path, n in ((self.log_file, 15), (self.workdir / "unity-environment.log", 8)):
                tail = _tail(path, n)
                parts.append(f"--- last lines of {path.name} ---\n{tail}" if tail else f"--- {path.name}: empty or missing ---")
        return UnityEnvError("\n".join(parts))
