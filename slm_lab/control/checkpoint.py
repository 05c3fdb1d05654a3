"""The checkpoint files of a session and their loading: the layer below Session.

What a session keeps on disk so that a run killed at any moment can go on (names from
lib/layout.py):

- `model/checkpoint.pt`: every `meta.checkpoint_frequency` frames (default `eval_frequency`)
  and at the end, written atomically after the table rows of that frame. It composes the
  owners' `state_dict()`s: each agent's (nets, optimizers, lr schedulers, counters, its
  generator, statistics since the last row, and an on-policy rollout in progress), each env's
  (clock, episodes under way and finished-but-unlogged, normalizers and, where it can be
  captured, the simulation: env/snapshot.py), the session's (next log / eval / checkpoint
  frames, best evals, each pair's return windows, the observations it acts on next), and
  the python / numpy / torch generators. Loaded with `torch.load(weights_only=True)`.
- `model/memory_a<a>_f<frame>.npz`: a replay memory at that checkpoint (`meta.checkpoint_memory`,
  default true for off-policy memories), written before the checkpoint that names it; older
  ones are deleted after. Loaded without pickle.
- `model/latest.pt`, `model/best.pt` (`agent<a>_...` for agent a > 0): an agent's weights for
  enjoy / record, with the normalization statistics of its env under "env_norm".
- `session_done.json` (written last: the session finished) and `error.txt` (it failed).

A resume restores every owner from the checkpoint; when every env's simulation and every
agent's memory came back, the run continues exactly as the uninterrupted one would have
(docs/OPERATIONS.md). Otherwise the envs are reset with a fresh seed and this is logged once.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib import io
from slm_lab.lib.layout import SessionLayout
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

CHECKPOINT_VERSION = 1


# --- files ----------------------------------------------------------------------------------


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Only tensors and plain containers: never unpickles arbitrary objects.

    A file that holds anything else (possibly code a pickle would run) or is not a
    checkpoint at all is refused with a one-line SpecError.
    """
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if found:  # torch refused to import a function or class the pickle names
            raise SpecError(f"{path}: refused: it would load {found.group(1)}, not only tensors and plain data; "
                            "a lab checkpoint never does (loading it could run code)") from None
        raise SpecError(f"{path}: not a readable checkpoint (weights-only load failed)") from None
    except FileNotFoundError:
        raise SpecError(f"{path}: no such checkpoint") from None
    except Exception as e:  # truncated, not a torch file, ...: never a traceback for a bad file
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(f"{path}: not a readable checkpoint ({detail[:120]})") from None


def save_checkpoint(agent: Any, path: Path, env: Any | None = None) -> None:
    """An agent's state dict, plus its env's normalization statistics under "env_norm" when it
    normalizes (a saved policy only makes sense on observations scaled the same way)."""
    import torch

    state = agent.state_dict()
    if env is not None and (norm := env.norm_state_dict()):
        state["env_norm"] = norm
    io.atomic_write(path, lambda f: torch.save(state, f), binary=True)


def checkpoint_path(session_dir: str | Path) -> Path:
    return SessionLayout(Path(session_dir)).checkpoint


# --- generators -----------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    import torch

    np_state = np.random.get_state()
    return {
        # JSON strings: a weights-only load accepts them, and no generator object is unpickled
        "python": json.dumps(random.getstate()),
        "numpy": json.dumps([np_state[0], np_state[1].tolist(), *np_state[2:]]),
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    name, key, pos, has_gauss, cached = json.loads(state["numpy"])
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


# --- memories -------------------------------------------------------------------------------


def memory_checkpointable(memory: Any) -> bool:
    """A memory is saved only if its own class defines state_dict and load_state_dict: a
    subclass with more state than its parent must opt in, so it is never half-restored."""
    own = type(memory).__dict__
    return "state_dict" in own and "load_state_dict" in own


def save_memory_enabled(spec: Any, memory: Any) -> bool:
    """Whether the memory gets its own file (`meta.checkpoint_memory`; default: replay memories)."""
    setting = spec.meta.checkpoint_memory
    return (not memory.is_on_policy) if setting is None else bool(setting)


def _rollout_inline(spec: Any, memory: Any) -> bool:
    """An on-policy rollout in progress is small (at most one rollout): it travels inside
    checkpoint.pt, as tensors, so an exact resume continues it."""
    return memory.is_on_policy and memory_checkpointable(memory) and not save_memory_enabled(spec, memory)


def _save_memories(session: Any, layout: SessionLayout, frame: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Each agent's memory file name ("" for none) and inline rollout ({} for none)."""
    import torch

    files, rollouts = [], []
    for a, agent in enumerate(session.agent_space.agents):
        name, rollout = "", {}
        if _rollout_inline(session.spec, agent.memory):
            rollout = {k: torch.from_numpy(np.array(v)) for k, v in agent.memory.state_dict().items()}
        elif save_memory_enabled(session.spec, agent.memory):
            if memory_checkpointable(agent.memory):
                name = layout.memory_name(a, frame)
                arrays = agent.memory.state_dict()
                io.atomic_write(layout.model_dir / name, lambda f: np.savez(f, **arrays), binary=True)
            else:
                session.warn_once(f"{type(agent.memory).__name__} cannot be checkpointed: a resumed session starts with it empty")
        files.append(name)
        rollouts.append(rollout)
    return files, rollouts


def _load_memories(session: Any, state: dict[str, Any], layout: SessionLayout) -> bool:
    """Each agent's memory back; True when every memory with contents came back."""
    complete = True
    rollouts = state.get("rollouts") or [{}] * len(state["memory_files"])
    for agent, memory_file, rollout in zip(session.agent_space.agents, state["memory_files"], rollouts):
        if memory_file:
            with np.load(layout.model_dir / memory_file, allow_pickle=False) as npz:
                agent.memory.load_state_dict({k: npz[k] for k in npz.files})
        elif rollout:
            agent.memory.load_state_dict({k: v.numpy() for k, v in rollout.items()})
        else:
            complete = False
    return complete


# --- the session checkpoint -------------------------------------------------------------------


def save_session_checkpoint(session: Any) -> Path:
    """Write the session's resumable state; the replay memory first, then the checkpoint naming it."""
    import torch

    layout = SessionLayout(session.dir)
    owned = session.state_dict()
    memory_files, rollouts = _save_memories(session, layout, int(owned["frame"]))
    state = {"version": CHECKPOINT_VERSION, **owned, "memory_files": memory_files, "rollouts": rollouts, "rng": rng_state()}
    io.atomic_write(layout.checkpoint, lambda f: torch.save(state, f), binary=True)
    for old in layout.memory_files():  # unreferenced now that the checkpoint is on disk
        if old.name not in memory_files:
            old.unlink(missing_ok=True)
    return layout.checkpoint


def load_session_checkpoint(session_dir: str | Path) -> dict[str, Any] | None:
    """The session's checkpoint, or None when it has none. Never unpickles objects."""
    path = checkpoint_path(session_dir)
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise SpecError(f"{path}: not a checkpoint this version of the lab can resume from")
    return state


def restore_session(session: Any, columns: list[str] | None = None) -> bool:
    """Continue `session` (built, envs not reset yet) from its checkpoint. False: none, start fresh.

    `columns` is accepted for callers of the older signature; each recorder knows its own."""
    layout = SessionLayout(session.dir)
    session.dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(session.dir)
    state = load_session_checkpoint(session.dir)
    if state is None:
        clear_session_outputs(session.dir)
        logger.info(f"session {session.index} has no checkpoint: starting it from scratch")
        return False
    memories_back = _load_memories(session, state, layout)
    envs_back = session.load_state_dict(state)
    for a, agent in enumerate(session.agent_space.agents):  # agent.frame is each one's checkpoint frame now
        best = layout.agent_model(a, "best")
        if best.is_file() and load_checkpoint(best).get("counters", {}).get("frame", 0) > int(agent.frame):
            session.best_evals[a] = -math.inf  # best.pt came from the lost stretch: the next eval replaces it
    layout.done_file.unlink(missing_ok=True)
    set_rng_state(state["rng"])  # last: nothing above may draw from the generators
    frame = int(state["frame"])
    if envs_back and memories_back:
        logger.info(f"session {session.index} resumes exactly at frame {frame}")
    else:
        what = "an env's simulation cannot be saved" if not envs_back else "a memory was not saved"
        session.warn_once(f"session {session.index} resumes at frame {frame}, not exactly: {what} "
                          f"(an episode in progress then is not counted; see docs/OPERATIONS.md)")
    return True


# --- session folder state ------------------------------------------------------------------


def remove_temp_files(folder: Path) -> None:
    """A process killed inside an atomic write leaves its temp file (the target is intact): remove them."""
    for tmp in Path(folder).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def clear_session_outputs(session_dir: Path) -> None:
    """Remove what a previous attempt of a session wrote, except its log."""
    import shutil

    for path in SessionLayout(Path(session_dir)).outputs():
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def mark_session_done(session_dir: Path, frame: int) -> None:
    io.write_json(SessionLayout(Path(session_dir)).done_file, {"frame": int(frame), "finished_at": time.time()})


def session_status(session_dir: Path, max_frame: int) -> str:
    """`done` (finished its budget), `failed` (has error.txt) or `todo`."""
    layout = SessionLayout(Path(session_dir))
    if layout.error_file.is_file():
        return "failed"
    if layout.done_file.is_file():
        try:
            if int(io.read_json(layout.done_file)["frame"]) >= max_frame:
                return "done"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return "todo"


def failure_message(session_dir: Path) -> str:
    """The one-line reason recorded in error.txt (its first line; details follow it)."""
    text = SessionLayout(Path(session_dir)).error_file.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[0].strip() if lines else "failed (no message recorded)"
