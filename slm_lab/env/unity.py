"""Unity SLM-Env adapter: a client for the prebuilt Unity ml-agents "API-2" players.

One `UnityEnv` is one env of the AEB space; its bodies are the agents of one brain of the
Unity academy (3DBall: 12 platforms, Tennis: 32 players). It exposes the same interface as
`slm_lab.env.gymnasium.GymEnv`, so the session loop cannot tell them apart.

The wire protocol (see the lab's reference notes, measured on the shipped binaries):
Python is the TCP server on 127.0.0.1 and Unity the client. Unity -> Python sends state
JSON and PNG frames with a 4-byte little-endian length prefix, and control words bare;
Python -> Unity is never framed and each message must fit one 12000-byte receive.

What differs from Gymnasium, by nature of these players:

- **Agents reset themselves.** An episode ends per agent (`dones`); that agent restarts on
  its own, so the adapter tracks each body's return and length itself.
- **The terminal observation is lost.** The step reporting `done` already carries the next
  episode's first observation, so for those bodies `next_state` is that first observation.
  The protocol cannot tell a fall from a time limit, so a done is `terminated` unless the
  body has played exactly as many steps as the player's own episode cap
  (PLAYER_EPISODE_STEPS, measured on the shipped players): that done is the player's time
  limit, reported as `truncated`, and since its true last observation is lost, the body's
  previous observation stands in for it as `next_state` (V(s_T-1) for V(s_T) in the
  bootstrap: one step apart). Where the adapter itself cuts an episode (`max_t`, or the
  academy's done flag) the true last observation is known and is handed back with
  `truncated`.
- **`max_t` is a soft limit.** The lab cannot reset one Unity agent, so at `max_t` steps a
  body's episode is counted as truncated while the agent plays on from the same state.
- **Seeds are ignored.** The players have no seed input: Unity runs are not reproducible,
  and two runs with the same spec seed differ.
- Rewards that come with a reset (3DBall reports 0.1) are not rewards for any action and
  are dropped. Camera frames (gridworld's 32x32) are read off the wire and discarded; the
  bodies see the vector state only.

Options (`env.kwargs`; every other key is an academy reset parameter, see
`unity_install.unity_options`): `brain` picks the controlled brain; `action_size` gives the
bodies a discrete action count other than the brain's declared one (3dball's agent code
obeys 4 actions but its brain declares 2); `court_relative` (tennis, on by default) makes
the x positions relative to each body's own net (see TENNIS_X below).

Cleanup: the player runs in its own session (process group) with a parent-death signal of
SIGKILL, so it dies with the lab even when the lab is SIGKILLed (Linux ties that signal to
the *thread* that started the player: make a UnityEnv in a thread that outlives it, as the
lab's session loop does); `close()`, an exit of the
interpreter and the garbage collector all send EXIT, wait, then kill the group. Each player
started is listed in the lab's pid files (`slm_lab.lib.pids`, kind "unity") while it runs,
for `slm-lab kill`.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.env.clock import Clock
from slm_lab.env.gymnasium import BodySpaces, StepResult
from slm_lab.env.unity_install import UNITY_ENVS, binary_path, is_installed, unity_options
from slm_lab.lib import pids
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

logger = get_logger(__name__)

PREFIX = "unity:"
MAX_SEND = 12000  # Unity reads each message with one receive into a buffer of this size
DEFAULT_TIMEOUT_S = 60.0  # launch takes 0.6-2.2 s and a step a few ms; this only catches hangs
EXIT_WAIT_S = 2.0  # a player exits within ~0.2 s of EXIT
PR_SET_PDEATHSIG = 1
WORKDIR_PREFIX = "slm-unity-"  # + <env>-<lab pid>-<random>, in the system temp folder


# Tennis observations (8 per player, measured on the shipped player): own x, own y, own vx,
# own vy, ball x, ball y, ball vx, ball vy. The player already mirrors every x quantity (and
# the x action) for the player on the +x side of its net, so both players of a court see
# their own half at negative x and action 1 moves either towards the net. But the x
# positions are world coordinates: the 16 courts sit at different x (nets at 0, +-44.4,
# +-45.6, +-90 in observation space), so the same situation looks different on every court.
# court_relative subtracts each body's net position from the two x positions; velocities
# need nothing, and nothing needs mirroring.
TENNIS_X = (0, 4)  # the observation entries that are x positions (player, ball)
# Where the player puts things (net-relative, own frame), seen on every run: at the
# academy reset the ball is exactly SERVE_X from the net, on one side or the other, and the
# player is on its own half; each episode then starts with the player at -EPISODE_START_X.
TENNIS_SERVE_X = 7.0
TENNIS_EPISODE_START_X = 7.0
TENNIS_HALF = (-12.0, 0.5)  # a player's x at the academy reset lies in here (net-relative)


def tennis_net_offsets(reset_states: np.ndarray) -> np.ndarray:
    """Each body's net position, in its own observation frame, from an academy-reset state.

    The ball is SERVE_X from the net, so the net is at ball x + SERVE_X or ball x - SERVE_X;
    the two candidates are 14 apart and the player's half is narrower, so exactly one of them
    has the player on its own half. Raises ValueError when not exactly one fits (a different
    build, or a state that is not from an academy reset).
    """
    ball, player = reset_states[:, TENNIS_X[1]], reset_states[:, TENNIS_X[0]]
    lo, hi = TENNIS_HALF
    offsets = np.empty(len(reset_states), dtype=np.float32)
    for b in range(len(reset_states)):
        fits = [k for k in (ball[b] + TENNIS_SERVE_X, ball[b] - TENNIS_SERVE_X) if lo <= player[b] - k <= hi]
        if len(fits) != 1:
            raise ValueError(f"body {b}: cannot place its net from the reset state (player x {player[b]:g}, ball x {ball[b]:g})")
        offsets[b] = fits[0]
    return offsets


# The step on which each player ends an episode by itself, counted from the agent's own
# restart (a `max_t` cut does not restart it): every 3DBall episode that keeps the ball up
# ends at 1001 steps (return 100.1), a gridworld agent walking into a wall at 101, the
# longest tennis rallies at 1000.
PLAYER_EPISODE_STEPS = {"3dball": 1001, "gridworld": 101, "tennis": 1000}


def court_relative(states: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[B, 8] tennis states with the x positions made relative to each body's own net."""
    out = states.copy()
    out[:, list(TENNIS_X)] -= offsets[:, None]
    return out


class UnityEnvError(RuntimeError):
    """The Unity player misbehaved (never connected, hung, died, spoke out of turn)."""


def unity_name(env_name: str) -> str:
    """`unity:3dball` -> `3dball`, checking it is a known Unity env (SpecError otherwise)."""
    if not env_name.startswith(PREFIX):
        raise SpecError(f"env {env_name!r} is not a Unity env name (unity:<name>)")
    name = env_name[len(PREFIX):]
    if name not in UNITY_ENVS:
        raise SpecError(f"env {env_name!r}: unknown Unity env (known: {', '.join(PREFIX + n for n in UNITY_ENVS)})")
    return name


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
class _Process:
    """The resources of one running player; held apart from UnityEnv so the finalizer
    that releases them does not keep the env alive."""

    proc: subprocess.Popen | None = None
    listener: socket.socket | None = None
    conn: socket.socket | None = None
    workdir: Path | None = None
    pid_file: Path | None = None
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


@dataclass(frozen=True)
class _Brain:
    name: str
    state_size: int
    action_size: int
    memory_size: int
    n_cameras: int
    discrete_action: bool
    discrete_state: bool


class UnityEnv:
    """One Unity academy; the agents of one of its brains are the bodies (the ml-agents
    platform: Juliani et al. 2018, "Unity: A General Platform for Intelligent Agents").

    `num_envs`, `evaluation` and `train_env` are accepted for GymEnv's signature and ignored:
    the bodies are fixed by the player and nothing is processed for training only.
    `binary` overrides the installed player (tests use fake ones); `port` 0 lets the OS pick
    a free loopback port, and any other port must be free; `timeout_s` bounds every wait
    (accept, receive) and the error then carries the tail of the Unity logs.
    """

    def __init__(
        self,
        spec: EnvSpec,
        seed: int = 0,
        num_envs: int | None = None,
        evaluation: bool = False,
        train_env: Any = None,
        *,
        binary: str | Path | None = None,
        port: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.spec = spec
        self.name = unity_name(spec.name)
        self.seed = seed  # recorded only: Unity players cannot be seeded
        self.timeout_s = timeout_s
        if num_envs not in (None, 1):
            logger.debug("%s has a fixed number of bodies; num_envs=%s is ignored", spec.name, num_envs)
        options = unity_options(self.name, spec.kwargs)
        self.brain_name, self.reset_params = options.brain, options.reset_params
        self.action_size_override = options.action_size
        self.court_relative = options.court_relative
        self.net_offsets: np.ndarray | None = None  # court_relative: each body's net x, from the first reset
        self._warned_offsets = False
        self.binary = Path(binary) if binary is not None else binary_path(self.name)
        if binary is None and not is_installed(self.name):
            raise SpecError(f"env {spec.name!r} is not installed: run `slm-lab env install {self.name}`")
        if not self.binary.is_file():
            raise SpecError(f"env {spec.name!r}: Unity player {self.binary} does not exist")
        if not os.access(self.binary, os.X_OK):
            raise SpecError(f"env {spec.name!r}: Unity player {self.binary} is not executable (chmod +x it)")
        self._res = _Process()
        self._finalizer = weakref.finalize(self, self._res.release)  # also runs at interpreter exit
        self._buf = bytearray()
        try:
            self._launch(port)
            self._handshake()
        except BaseException:
            self.close()
            raise
        self.clock = Clock(spec.max_frame)
        self.max_t = spec.max_t
        self.player_episode_steps = PLAYER_EPISODE_STEPS.get(self.name)
        self.player_lengths = np.zeros(self.num_bodies, dtype=np.int64)  # steps since the agent's own restart
        self._last_obs: np.ndarray | None = None
        self.obs_dtype = np.float32
        self.body_returns = np.zeros(self.num_bodies, dtype=np.float64)
        self.body_lengths = np.zeros(self.num_bodies, dtype=np.int64)
        self.finished: list[tuple[int, float, int]] = []
        self._needs_reset = True
        logger.info("%s: brain %s, %d bodies (Unity ignores seeds: runs are not reproducible)",
                    spec.name, self.brain.name, self.num_bodies)

    # --- set-up -------------------------------------------------------------------------

    def _launch(self, port: int) -> None:
        res = self._res
        res.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            res.listener.bind(("127.0.0.1", port))  # loopback only: nothing else may drive the env
        except (OSError, OverflowError) as e:
            reason = getattr(e, "strerror", None) or e
            raise UnityEnvError(f"{self.spec.name}: cannot listen on 127.0.0.1:{port}: {reason}") from None
        res.listener.listen(1)
        self.port = res.listener.getsockname()[1]
        _sweep_stale()
        # its own folder: the player writes unity-environment.log into its working directory
        res.workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{self.name}-{os.getpid()}-"))
        self.log_file = res.workdir / "player.log"
        cmd = [str(self.binary), "--port", str(self.port), "-batchmode", "-nographics", "-logFile", str(self.log_file)]
        try:
            res.proc = subprocess.Popen(
                cmd, cwd=res.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, preexec_fn=_pdeathsig_preexec(os.getpid()),
            )
        except OSError as e:
            raise UnityEnvError(f"{self.spec.name}: cannot start {self.binary}: {e}") from None
        # listed for `slm-lab kill` (lib/pids.py) until close() removes it
        res.pid_file = pids.register("unity", res.proc.pid, cmd=" ".join(cmd))
        self.pid, self.pid_file = res.proc.pid, res.pid_file
        # wait in short slices so a player that crashes is reported at once, not at the timeout
        deadline = time.monotonic() + self.timeout_s
        res.listener.settimeout(0.2)
        while True:
            try:
                res.conn, _ = res.listener.accept()
                break
            except socket.timeout:
                code = res.proc.poll()
                if code is not None:
                    raise self._error(f"Unity player exited with status {code} before connecting")
                if time.monotonic() > deadline:
                    raise self._error(f"Unity player did not connect within {self.timeout_s:g} s")
        res.listener.close()
        res.listener = None
        res.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        res.conn.settimeout(self.timeout_s)

    def _handshake(self) -> None:
        raw = bytearray()
        while True:
            raw += self._recv_some()
            if len(raw) > 1 << 20:
                raise self._error("the handshake from Unity is not JSON")
            try:
                hello = json.loads(raw.decode("utf-8"))
                break
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
        if hello.get("apiNumber") != "API-2":
            raise self._error(f"Unity player speaks {hello.get('apiNumber')!r}, this client speaks 'API-2'")
        self.academy = hello.get("AcademyName", "?")
        self.known_params = dict(hello.get("resetParameters") or {})
        unknown = sorted(set(self.reset_params) - set(self.known_params))
        if unknown:
            known = ", ".join(self.known_params) or "none"
            raise SpecError(f"env {self.spec.name!r}: unknown reset parameter(s) {', '.join(unknown)} (known: {known})")
        self.brains: dict[str, _Brain] = {}
        for name, p in zip(hello["brainNames"], hello["brainParameters"]):
            self.brains[name] = _Brain(
                name, int(p["stateSize"]), int(p["actionSize"]), int(p.get("memorySize", 0)),
                len(p.get("cameraResolutions") or []), p["actionSpaceType"] == 0, p["stateSpaceType"] == 0,
            )
        self.external = [n for n in hello.get("externalBrainNames", []) if n in self.brains]
        if not self.external:
            raise self._error(f"Unity academy {self.academy} has no external brain to control")
        name = self.brain_name or self.external[0]
        if name not in self.external:
            raise SpecError(f"env {self.spec.name!r}: brain {name!r} is not an external brain (external: {', '.join(self.external)})")
        self.brain = self.brains[name]
        if self.brain.discrete_state:
            raise SpecError(f"env {self.spec.name!r}: brain {name} has a discrete state space, which the lab does not support")
        # the body count is only known from a state burst: reset once now
        burst, _ = self._exchange_reset()
        self.agent_ids = list(burst[name]["agents"])
        self.num_bodies = len(self.agent_ids)
        if self.num_bodies == 0:
            with_agents = [b for b in self.external if burst[b]["agents"]]
            raise SpecError(f"env {self.spec.name!r}: brain {name} has no agents (brains with agents: {', '.join(with_agents) or 'none'})")
        self._first_burst = burst
        if self.court_relative:
            if self.brain.state_size != 8:
                raise SpecError(f"env {self.spec.name!r}: court_relative expects 8 tennis observations, brain {name} has {self.brain.state_size}")
            try:
                self.net_offsets = tennis_net_offsets(self._raw_states(burst[name]))
            except ValueError as e:
                raise self._error(f"court_relative: {e}") from None
        b = self.brain
        if self.action_size_override is not None and not b.discrete_action:
            raise SpecError(f"env {self.spec.name!r}: action_size applies to discrete brains; {name} is continuous")
        if b.discrete_action:
            # the override exists because a player may obey more actions than its brain
            # declares (3dball declares 2, its agent code also tilts about the second axis
            # with 3 and 4: bench/unity_3dball_ceiling.py); indices are sent as they are
            n_actions = self.action_size_override or b.action_size
            self.spaces = BodySpaces(b.state_size, n_actions, True, self.num_bodies)
        else:
            # ml-agents continuous controllers expect actions in [-1, 1]
            ones = np.ones(b.action_size, dtype=np.float32)
            self.spaces = BodySpaces(b.state_size, b.action_size, False, self.num_bodies, -ones, ones)

    # --- wire ---------------------------------------------------------------------------

    def _error(self, what: str) -> UnityEnvError:
        res = self._res
        status = res.proc.poll() if res.proc is not None else None
        where = f"{self.spec.name} (player {self.binary}, port {getattr(self, 'port', '?')}"
        where += f", exited {status})" if status is not None else ")"
        parts = [f"{what}: {where}"]
        if res.workdir is not None:
            for path, n in ((self.log_file, 15), (res.workdir / "unity-environment.log", 8)):
                tail = _tail(path, n)
                parts.append(f"--- last lines of {path.name} ---\n{tail}" if tail else f"--- {path.name}: empty or missing ---")
        return UnityEnvError("\n".join(parts))

    def _recv_some(self) -> bytes:
        if self._res.conn is None or self._res.closed:
            raise UnityEnvError(f"{self.spec.name}: the env is closed")
        try:
            data = self._res.conn.recv(65536)
        except socket.timeout:
            raise self._error(f"no message from Unity within {self.timeout_s:g} s") from None
        except OSError as e:
            raise self._error(f"connection to Unity failed: {e}") from None
        if not data:
            raise self._error("Unity closed the connection")
        return data

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += self._recv_some()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _send(self, data: bytes) -> None:
        if len(data) >= MAX_SEND:
            raise UnityEnvError(f"{self.spec.name}: message of {len(data)} bytes exceeds Unity's {MAX_SEND}-byte receive")
        if self._res.conn is None or self._res.closed:
            raise UnityEnvError(f"{self.spec.name}: the env is closed")
        try:
            self._res.conn.sendall(data)
        except socket.timeout:
            raise self._error(f"could not send to Unity within {self.timeout_s:g} s") from None
        except OSError as e:
            raise self._error(f"connection to Unity failed: {e}") from None

    def _expect(self, word: bytes) -> None:
        got = self._recv_exact(len(word))
        if got != word:
            raise self._error(f"expected {word.decode()} from Unity, got {got[:40]!r}")

    def _recv_framed(self) -> bytes:
        (n,) = struct.unpack("<i", self._recv_exact(4))
        if n < 0 or n > 1 << 28:
            raise self._error(f"bad frame length {n} from Unity")
        return self._recv_exact(n)

    def _read_burst(self) -> tuple[dict[str, dict[str, Any]], bool]:
        """One state JSON per external brain (then its camera frames), then the academy-done flag."""
        burst: dict[str, dict[str, Any]] = {}
        for _ in self.external:
            msg = json.loads(self._recv_framed().decode("utf-8"))
            self._send(b"RECEIVED")
            brain = self.brains[msg["brain_name"]]
            for _ in range(brain.n_cameras * len(msg["agents"])):
                self._recv_framed()  # a PNG frame: the bodies use the vector state only
                self._send(b"RECEIVED")
            burst[msg["brain_name"]] = msg
        flag = self._recv_exact(4)
        if flag == b"True":
            return burst, True
        if flag == b"Fals" and self._recv_exact(1) == b"e":
            return burst, False
        raise self._error(f"expected the academy-done flag from Unity, got {flag!r}")

    def _exchange_reset(self) -> tuple[dict[str, dict[str, Any]], bool]:
        self._send(b"RESET")
        self._expect(b"CONFIG_REQUEST")
        self._send(json.dumps({"train_model": True, "parameters": self.reset_params}).encode())
        return self._read_burst()

    # --- the GymEnv interface -------------------------------------------------------------

    def _raw_states(self, msg: dict[str, Any]) -> np.ndarray:
        """The brain's states as [B, obs], rows in the fixed body order of `agent_ids`."""
        states = np.asarray(msg["states"], dtype=np.float32).reshape(len(msg["agents"]), self.brain.state_size)
        return states[self._order(msg)]

    def _states(self, msg: dict[str, Any]) -> np.ndarray:
        """What the bodies see: the raw states, court-relative where that is on."""
        states = self._raw_states(msg)
        if self.net_offsets is not None:
            states = court_relative(states, self.net_offsets)
        return states

    def _order(self, msg: dict[str, Any]) -> np.ndarray | slice:
        ids = msg["agents"]
        if ids == self.agent_ids:
            return slice(None)
        index = {agent: i for i, agent in enumerate(ids)}
        if len(ids) != len(self.agent_ids) or any(a not in index for a in self.agent_ids):
            raise self._error(f"the agents of brain {self.brain.name} changed from {self.agent_ids} to {ids}")
        return np.array([index[a] for a in self.agent_ids])

    def reset(self) -> np.ndarray:
        """Reset the academy (all bodies start an episode); returns [B, obs]."""
        if self._first_burst is not None:  # the reset that counted the bodies is fresh
            burst, self._first_burst = self._first_burst, None
        else:
            burst, _ = self._exchange_reset()
        self._remember_order(burst)
        self.body_returns[:] = 0.0
        self.body_lengths[:] = 0
        self.player_lengths[:] = 0
        self._needs_reset = False
        self._last_obs = self._states(burst[self.brain.name])
        return self._last_obs

    def _action_message(self, action: np.ndarray) -> bytes:
        b = self.brain
        if b.discrete_action:
            flat = np.asarray(action).reshape(self.num_bodies).astype(np.float64)
        else:
            flat = np.clip(np.asarray(action, dtype=np.float64).reshape(self.num_bodies, b.action_size), -1.0, 1.0)
            flat = np.round(flat, 6)  # keeps the message short: Unity reads at most 12000 bytes
        rows = flat.reshape(self.num_bodies, -1)
        order = self._send_order
        if not isinstance(order, slice):
            unity_rows = np.empty_like(rows)
            unity_rows[order] = rows  # body i is at Unity position order[i]
            rows = unity_rows
        msg: dict[str, dict[str, list[float]]] = {"action": {}, "memory": {}, "value": {}}
        for name in self.external:
            other = self.brains[name]
            n = self._n_agents[name]
            if name == b.name:
                acts = rows.ravel().tolist()
            else:  # brains the lab does not control get zero actions
                acts = [0.0] * (n * (1 if other.discrete_action else other.action_size))
            msg["action"][name] = acts
            msg["memory"][name] = [0.0] * (n * other.memory_size)
            msg["value"][name] = [0.0] * n
        return json.dumps(msg, separators=(",", ":")).encode()

    def step(self, action: np.ndarray) -> StepResult:
        """Act for every body; bodies whose episode ended start the next one (see module notes)."""
        if self._needs_reset:
            raise UnityEnvError(f"{self.spec.name}: call reset() before step()")
        self._send(b"STEP")
        self._expect(b"STEPPING")
        self._send(self._action_message(action))
        burst, academy_done = self._read_burst()
        self._remember_order(burst)
        msg = burst[self.brain.name]
        order = self._order(msg)
        obs = self._states(msg)
        reward = np.asarray(msg["rewards"], dtype=np.float32)[order]
        player_done = np.asarray(msg["dones"], dtype=bool)[order]  # the agent restarted itself
        terminated, truncated = player_done, np.zeros(self.num_bodies, dtype=bool)
        self.body_returns += reward
        self.body_lengths += 1
        self.player_lengths += 1
        next_state = obs
        if self.player_episode_steps is not None:
            capped = player_done & (self.player_lengths == self.player_episode_steps)
            if capped.any():  # the player's time limit, not a fall (see the module notes)
                terminated, truncated = terminated & ~capped, truncated | capped
                next_state = obs.copy()
                next_state[capped] = self._last_obs[capped]
        if self.max_t is not None:
            truncated |= (self.body_lengths >= self.max_t) & ~terminated
        if academy_done:
            # the academy ended every episode: the states are true last observations
            truncated |= ~terminated
            reset_burst, _ = self._exchange_reset()
            self._remember_order(reset_burst)
            obs = self._states(reset_burst[self.brain.name])
        done = terminated | truncated
        # (after an academy reset the players stand elsewhere: nothing to check then)
        if self.net_offsets is not None and terminated.any() and not academy_done and not self._warned_offsets:
            self._check_offsets(obs[terminated])
        n_done = int(done.sum())
        for b in np.flatnonzero(done):  # only on episode ends
            self.finished.append((int(b), float(self.body_returns[b]), int(self.body_lengths[b])))
        self.body_returns[done] = 0.0
        self.body_lengths[done] = 0
        self.player_lengths[player_done] = 0
        if academy_done:
            self.player_lengths[:] = 0
        self.clock.tick(self.num_bodies, n_done)
        self._last_obs = obs
        return StepResult(obs, next_state, reward, terminated, truncated)

    def _check_offsets(self, starts: np.ndarray) -> None:
        """Every tennis episode starts with the player EPISODE_START_X behind its net: a
        free check, on real episode starts, of the offsets found at the academy reset."""
        off = np.abs(starts[:, TENNIS_X[0]] + TENNIS_EPISODE_START_X)
        if (off > 0.01).any():
            self._warned_offsets = True
            logger.warning("%s: court_relative: an episode started %.3g from where the net offsets put it; "
                           "the observations may not be court-relative", self.spec.name, float(off.max()))

    def _remember_order(self, burst: dict[str, dict[str, Any]]) -> None:
        self._n_agents = {name: len(msg["agents"]) for name, msg in burst.items()}
        self._send_order = self._order(burst[self.brain.name])

    def drain_finished(self) -> list[tuple[int, float, int]]:
        out, self.finished = self.finished, []
        return out

    def norm_state_dict(self) -> dict:
        """No observation / reward normalization here (GymEnv's interface)."""
        return {}

    def load_norm_state_dict(self, state: dict) -> None:
        if state:
            raise ValueError(f"{self.spec.name}: Unity envs keep no normalization statistics to load")

    def close(self) -> None:
        """Send EXIT, wait for the player, kill its process group; safe to call twice."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._res.closed

    def __enter__(self) -> UnityEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
