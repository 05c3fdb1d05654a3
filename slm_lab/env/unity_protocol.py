"""The Unity SLM-Env wire protocol ("API-2"), client side (the lab's reference notes describe it).

Python is the TCP server on 127.0.0.1 and Unity the client. Unity -> Python sends state
JSON and PNG frames with a 4-byte little-endian length prefix, and control words bare;
Python -> Unity is never framed and each message must fit one 12000-byte receive.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass
from typing import Any, Callable

MAX_SEND = 12000  # Unity reads each message with one receive into a buffer of this size

Burst = dict[str, dict[str, Any]]
"""One state message per external brain, by brain name."""


class UnityEnvError(RuntimeError):
    """The Unity player misbehaved (never connected, hung, died, spoke out of turn)."""


@dataclass(frozen=True)
class Brain:
    """A brain's parameters, as the academy's hello declares them."""

    name: str
    state_size: int
    action_size: int
    memory_size: int
    n_cameras: int
    discrete_action: bool
    discrete_state: bool


class UnityConnection:
    """Messages over one connected socket. `error(what)` builds the error to raise (with the
    player's log tails); `is_closed()` says whether the player was released."""

    def __init__(self, conn: socket.socket, label: str, timeout_s: float,
                 error: Callable[[str], UnityEnvError], is_closed: Callable[[], bool]) -> None:
        self.conn, self.label, self.timeout_s = conn, label, timeout_s
        self.error, self.is_closed = error, is_closed
        self.buf = bytearray()
        self.brains: dict[str, Brain] = {}
        self.external: list[str] = []

    # --- bytes ----------------------------------------------------------------------------

    def recv_some(self) -> bytes:
        if self.is_closed():
            raise UnityEnvError(f"{self.label}: the env is closed")
        try:
            data = self.conn.recv(65536)
        except socket.timeout:
            raise self.error(f"no message from Unity within {self.timeout_s:g} s") from None
        except OSError as e:
            raise self.error(f"connection to Unity failed: {e}") from None
        if not data:
            raise self.error("Unity closed the connection")
        return data

    def recv_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self.recv_some()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, data: bytes) -> None:
        if len(data) >= MAX_SEND:
            raise UnityEnvError(f"{self.label}: message of {len(data)} bytes exceeds Unity's {MAX_SEND}-byte receive")
        if self.is_closed():
            raise UnityEnvError(f"{self.label}: the env is closed")
        try:
            self.conn.sendall(data)
        except socket.timeout:
            raise self.error(f"could not send to Unity within {self.timeout_s:g} s") from None
        except OSError as e:
            raise self.error(f"connection to Unity failed: {e}") from None

    def expect(self, word: bytes) -> None:
        got = self.recv_exact(len(word))
        if got != word:
            raise self.error(f"expected {word.decode()} from Unity, got {got[:40]!r}")

    def recv_framed(self) -> bytes:
        (n,) = struct.unpack("<i", self.recv_exact(4))
        if n < 0 or n > 1 << 28:
            raise self.error(f"bad frame length {n} from Unity")
        return self.recv_exact(n)

    # --- messages -------------------------------------------------------------------------

    def read_hello(self) -> dict[str, Any]:
        """The academy's unframed hello JSON; records its brains and which are external."""
        raw = bytearray()
        while True:
            raw += self.recv_some()
            if len(raw) > 1 << 20:
                raise self.error("the handshake from Unity is not JSON")
            try:
                hello = json.loads(raw.decode("utf-8"))
                break
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
        if hello.get("apiNumber") != "API-2":
            raise self.error(f"Unity player speaks {hello.get('apiNumber')!r}, this client speaks 'API-2'")
        for name, p in zip(hello["brainNames"], hello["brainParameters"]):
            self.brains[name] = Brain(
                name, int(p["stateSize"]), int(p["actionSize"]), int(p.get("memorySize", 0)),
                len(p.get("cameraResolutions") or []), p["actionSpaceType"] == 0, p["stateSpaceType"] == 0,
            )
        self.external = [n for n in hello.get("externalBrainNames", []) if n in self.brains]
        return hello

    def read_burst(self) -> tuple[Burst, bool]:
        """One state JSON per external brain (then its camera frames), then the academy-done flag."""
        burst: Burst = {}
        for _ in self.external:
            msg = json.loads(self.recv_framed().decode("utf-8"))
            self.send(b"RECEIVED")
            brain = self.brains[msg["brain_name"]]
            for _ in range(brain.n_cameras * len(msg["agents"])):
                self.recv_framed()  # a PNG frame: the bodies use the vector state only
                self.send(b"RECEIVED")
            burst[msg["brain_name"]] = msg
        flag = self.recv_exact(4)
        if flag == b"True":
            return burst, True
        if flag == b"Fals" and self.recv_exact(1) == b"e":
            return burst, False
        raise self.error(f"expected the academy-done flag from Unity, got {flag!r}")

    def reset(self, reset_params: dict[str, float]) -> tuple[Burst, bool]:
        self.send(b"RESET")
        self.expect(b"CONFIG_REQUEST")
        self.send(json.dumps({"train_model": True, "parameters": reset_params}).encode())
        return self.read_burst()

    def step(self, action_message: bytes) -> tuple[Burst, bool]:
        self.send(b"STEP")
        self.expect(b"STEPPING")
        self.send(action_message)
        return self.read_burst()
