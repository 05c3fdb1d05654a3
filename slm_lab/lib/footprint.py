"""What a spec will need in memory, estimated before anything runs.

A replay memory preallocates `max_size` rows of every field (agent/memory/replay.py), so
`memory.max_size = 10**15` or `net.hid_layers = [10**8, 10**8]` would only fail deep inside
a session, or drive the machine into swap. The estimate here is deliberately a lower bound
(replay arrays, net weights with their gradients and Adam's two moments); a spec whose lower
bound does not fit this machine's memory is refused with one line.
"""

from __future__ import annotations

import math
import os
from typing import Any

FLOAT_BYTES = 4
# weights + gradients + Adam's first and second moments: four float32 copies of each parameter
PARAM_COPIES = 4
ATARI_FRAME = (84, 84)


def machine_memory_bytes() -> int | None:
    """Physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def observation_shape(env_spec: Any) -> tuple[int, ...] | None:
    """The observation shape of a Gymnasium env (Atari: the preprocessed 84x84 stack); None when
    it cannot be known without starting the env (Unity, PettingZoo, entry points)."""
    if env_spec.is_atari():
        return (env_spec.stack_size(), *ATARI_FRAME)
    if env_spec.kind != "gymnasium":
        return None
    import gymnasium as gym

    try:
        space = gym.spec(env_spec.name)
        env = gym.make(space.id, **dict(env_spec.kwargs))
    except Exception:  # the env is judged by the checks that start it; no estimate here
        return None
    try:
        shape = env.observation_space.shape
    finally:
        env.close()
    if not shape:
        return None
    return (env_spec.stack_size(), *shape) if env_spec.stack_size() > 1 else tuple(shape)


def replay_bytes(memory: Any, obs_shape: tuple[int, ...], atari: bool) -> int:
    """Preallocated replay arrays: states and next states (AtariReplay stores each frame once)."""
    max_size = getattr(memory, "max_size", None)
    if max_size is None:  # on-policy memories hold one rollout: small
        return 0
    if atari and memory.name == "AtariReplay":
        per_row = math.prod(obs_shape[1:])  # one uint8 frame per transition
    else:
        per_row = 2 * math.prod(obs_shape) * (1 if atari else FLOAT_BYTES)  # state and next_state
    return int(max_size) * (per_row + 4 * FLOAT_BYTES)  # + action, reward, terminated, truncated


def mlp_params(in_dim: int, hid_layers: list[int], out_dim: int = 1) -> int:
    """Weights and biases of a fully connected stack in -> hid... -> out."""
    dims = [in_dim, *hid_layers, out_dim]
    return sum((a + 1) * b for a, b in zip(dims, dims[1:]))


def net_bytes(net: Any, obs_shape: tuple[int, ...] | None) -> int:
    """Parameter memory of the agent's main net (the fully connected layers dominate)."""
    layers = [int(h) for h in (getattr(net, "hid_layers", None) or getattr(net, "fc_hid_layers", None) or [])]
    if getattr(net, "type", "MLPNet") == "ConvNet":
        in_dim = 3136  # Nature-CNN conv output on 84x84 frames, what the fc layers take
    else:
        in_dim = math.prod(obs_shape) if obs_shape else 1
    return mlp_params(in_dim, layers) * FLOAT_BYTES * PARAM_COPIES


def estimate_bytes(spec: Any) -> int:
    """A lower bound on the memory a trial of `spec` needs: every session holds its own replay
    and nets, and sessions run side by side."""
    per_session = 0
    for env in spec.env:
        shape = observation_shape(env)
        for agent in spec.agent:
            if shape is not None:
                per_session += replay_bytes(agent.memory, shape, env.is_atari())
            per_session += net_bytes(agent.net, shape)
    return per_session * int(spec.meta.max_session)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def fits_problem(spec: Any) -> str | None:
    """The one-line reason the spec cannot fit this machine's memory, else None."""
    total = machine_memory_bytes()
    if total is None:
        return None
    need = estimate_bytes(spec)
    if need <= total:
        return None
    return (f"{spec.name}: needs at least {_size(need)} of memory (replay memory max_size x observation size, "
            f"net parameters, x {spec.meta.max_session} session(s)) but this machine has {_size(total)}; "
            "lower memory.max_size, net.hid_layers or meta.max_session")
