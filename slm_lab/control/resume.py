"""Resume an interrupted trial: `slm-lab run SPEC_FILE SPEC_NAME train@<run dir | latest>`.

What a session keeps on disk so that a run killed at any moment can go on:

- `session_j/model/checkpoint.pt`: every `meta.checkpoint_frequency` frames (default
  `eval_frequency`) and at the end, written atomically after the table rows of that frame:
  each agent's nets, optimizers, lr schedulers, counters (frame, env steps, opt steps),
  its numpy generator and the losses since the last log row; each env's clock (frames,
  episodes, wall time), finished-but-unlogged episodes and normalization statistics; the
  python / numpy / torch generators; the session's next log / eval / checkpoint frames,
  best eval return and return windows. Loaded with `torch.load(weights_only=True)`.
- `session_j/model/memory_a{a}_f{frame}.npz`: the replay memory at that checkpoint
  (`meta.checkpoint_memory`, default true for off-policy memories), written before the
  checkpoint that names it; older ones are deleted after. Loaded without pickle.
- `session_j/session_done.json`: written last, after metrics.json: the session finished.

On resume a finished session is kept as it is; a session with `error.txt` stays failed
(delete the file to retry it); any other restarts from its checkpoint (from scratch when it
has none), with its train/eval tables cut back to the checkpoint's frame so they continue
without a duplicate or a missing row. Env state cannot be saved: envs are reset with a
fresh seed, so an episode in progress at the checkpoint is lost and never counted.

The resumed run uses the spec saved in the run folder; only `env.N.max_frame` may be
changed (`-s env.0.max_frame=...`), to train further: a finished session whose budget grows
goes on from its final checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib import io
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

CHECKPOINT = "checkpoint.pt"
DONE_FILE = "session_done.json"
ERROR_FILE = "error.txt"
CHECKPOINT_VERSION = 1
RESUMABLE_OVERRIDE = re.compile(r"^env\.\d+\.max_frame$")
# what a fresh restart of a session removes (its log is kept: it tells what happened)
SESSION_OUTPUTS = ("train.csv", "eval.csv", "metrics.json", "model", "tensorboard", ERROR_FILE, DONE_FILE)


# --- session checkpoints ------------------------------------------------------------------


def checkpoint_path(session_dir: str | Path) -> Path:
    return Path(session_dir) / "model" / CHECKPOINT


def memory_checkpointable(memory: Any) -> bool:
    """A memory is saved only if its own class defines state_dict and load_state_dict: a
    subclass with more state than its parent must opt in, so it is never half-restored."""
    own = type(memory).__dict__
    return "state_dict" in own and "load_state_dict" in own


def save_memory_enabled(spec: Any, memory: Any) -> bool:
    setting = spec.meta.checkpoint_memory
    return (not memory.is_on_policy) if setting is None else bool(setting)


def _envs(session: Any) -> list[Any]:
    return list(session.env_space.envs)


def _agents(session: Any) -> list[Any]:
    return list(session.agent_space.agents)


def _rng_state() -> dict[str, Any]:
    import torch

    np_state = np.random.get_state()
    return {
        # JSON strings: a weights-only load accepts them, and no generator object is unpickled
        "python": json.dumps(random.getstate()),
        "numpy": json.dumps([np_state[0], np_state[1].tolist(), *np_state[2:]]),
        "torch": torch.get_rng_state(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    name, key, pos, has_gauss, cached = json.loads(state["numpy"])
    np.random.set_state((name, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def save_session_checkpoint(session: Any) -> Path:
    """Write the session's resumable state; the replay memory first, then the checkpoint naming it."""
    import torch

    model_dir = session.dir / "model"
    frame = int(session.env.clock.frame)
    memory_files: list[str] = []
    for a, agent in enumerate(_agents(session)):
        name = ""
        if save_memory_enabled(session.spec, agent.memory):
            if memory_checkpointable(agent.memory):
                name = f"memory_a{a}_f{frame}.npz"
                arrays = agent.memory.state_dict()
                io.atomic_write(model_dir / name, lambda f: np.savez(f, **arrays), binary=True)
            elif not getattr(session, "_warned_memory", False):
                session._warned_memory = True
                logger.warning(f"{type(agent.memory).__name__} cannot be checkpointed: a resumed session starts with it empty")
        memory_files.append(name)
    envs = _envs(session)
    state = {
        "version": CHECKPOINT_VERSION,
        "frame": frame,
        "agents": [agent.state_dict() for agent in _agents(session)],
        "memory_files": memory_files,
        "envs": [
            {
                "frame": int(env.clock.frame), "episode": int(env.clock.episode), "wall_t": float(env.clock.wall_t),
                "finished": [[int(b), float(r), int(n)] for b, r, n in getattr(env, "finished", [])],
                "norm": env.norm_state_dict() if hasattr(env, "norm_state_dict") else {},
            }
            for env in envs
        ],
        "rng": _rng_state(),
        "session": {
            "next_log": int(session.next_log), "next_eval": int(session.next_eval), "next_ckpt": int(session.next_ckpt),
            "best_evals": [float(x) for x in session.best_evals],
            # one entry per (agent, env) pair, in the session's pair order
            "pairs": [{"returns_window": [float(x) for x in rec.returns_window],
                       "eval_window": [float(x) for x in rec.eval_window], "episodes": int(rec.episodes)}
                      for rec in session.recorders],
        },
    }
    path = model_dir / CHECKPOINT
    io.atomic_write(path, lambda f: torch.save(state, f), binary=True)
    for old in model_dir.glob("memory_*.npz"):  # unreferenced now that the checkpoint is on disk
        if old.name not in memory_files:
            old.unlink(missing_ok=True)
    return path


def load_session_checkpoint(session_dir: str | Path) -> dict[str, Any] | None:
    """The session's checkpoint, or None when it has none. Never unpickles objects."""
    path = checkpoint_path(session_dir)
    if not path.is_file():
        return None
    from slm_lab.control.session import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise SpecError(f"{path}: not a checkpoint this version of the lab can resume from")
    return state


def remove_temp_files(folder: Path) -> None:
    """A process killed inside an atomic write leaves its temp file (the target is intact): remove them."""
    for tmp in Path(folder).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def clear_session_outputs(session_dir: Path) -> None:
    """Remove what a previous attempt of a session wrote, except its log."""
    import shutil

    from slm_lab.analysis.graphs import pair_folders

    for name in SESSION_OUTPUTS:
        path = session_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for graph in session_dir.glob("session_graph*"):
        graph.unlink(missing_ok=True)
    for pair_dir in pair_folders(session_dir):  # a session with several (agent, env) pairs
        shutil.rmtree(pair_dir)


def _read_rows(path: Path, frame: int, columns: list[str]) -> list[dict[str, Any]]:
    import pandas as pd

    if not path.is_file():
        return []
    df = pd.read_csv(path)
    df = df[df["frame"] <= frame]  # rows written after the checkpoint belong to the lost stretch
    return [{c: row.get(c, math.nan) for c in columns} for row in df.to_dict("records")]


def _restore_records(session: Any, columns: list[str], saved: dict[str, Any]) -> None:
    """Each pair's windows, episode count and tables (train, eval, per-body), cut back to the
    checkpoint: a pair's rows count its own env's frames, restored before this."""
    import pandas as pd

    from slm_lab.control.recorder import BODY_COLUMNS
    from slm_lab.control.session import agent_checkpoint_path, load_checkpoint

    # checkpoints written before sessions with several pairs could resume held the first pair's windows only
    pairs = saved.get("pairs") or [{"returns_window": saved["returns_window"], "eval_window": saved["eval_window"]}]
    best_evals = saved.get("best_evals") or [saved["best_eval"]]
    if len(pairs) != len(session.recorders) or len(best_evals) != len(session.best_evals):
        raise SpecError(f"{checkpoint_path(session.dir)}: saved for {len(pairs)} (agent, env) pairs, "
                        f"the spec has {len(session.recorders)}")
    session.best_evals = [float(x) for x in best_evals]
    for a, agent in enumerate(_agents(session)):  # agents are restored: agent.frame is each one's checkpoint frame
        best = agent_checkpoint_path(session.dir / "model", a, "best")
        if best.is_file() and load_checkpoint(best).get("counters", {}).get("frame", 0) > int(agent.frame):
            session.best_evals[a] = -math.inf  # best.pt came from the lost stretch: the next eval replaces it
    for rec, pair in zip(session.recorders, pairs):
        frame = int(rec.env.clock.frame)
        rec.returns_window = deque(pair["returns_window"], maxlen=session.meta.ma_window)
        rec.eval_window = deque(pair["eval_window"], maxlen=session.meta.ma_window)
        rec.train_rows = _read_rows(rec.dir / "train.csv", frame, rec.train_columns)
        rec.eval_rows = _read_rows(rec.dir / "eval.csv", frame, columns)
        rec.body_rows = _read_rows(rec.dir / "bodies.csv", frame, BODY_COLUMNS)
        rec.episodes = int(pair.get("episodes", rec.train_rows[-1]["episode"] if rec.train_rows else 0))
        rec.last_row_frame = frame
        io.write_csv(rec.dir / "train.csv", pd.DataFrame(rec.train_rows, columns=rec.train_columns))
        io.write_csv(rec.dir / "eval.csv", pd.DataFrame(rec.eval_rows, columns=columns))
        if rec.body_rows or (rec.dir / "bodies.csv").is_file():
            io.write_csv(rec.dir / "bodies.csv", pd.DataFrame(rec.body_rows, columns=BODY_COLUMNS))


def restore_session(session: Any, columns: list[str]) -> bool:
    """Continue `session` (built, envs not reset yet) from its checkpoint. False: none, start fresh."""
    from slm_lab.lib.seeding import derive_seed

    session.dir.mkdir(parents=True, exist_ok=True)
    remove_temp_files(session.dir)
    state = load_session_checkpoint(session.dir)
    if state is None:
        clear_session_outputs(session.dir)
        logger.info(f"session {session.index} has no checkpoint: starting it from scratch")
        return False
    frame = int(state["frame"])
    model_dir = session.dir / "model"
    for agent, agent_state, memory_file in zip(_agents(session), state["agents"], state["memory_files"]):
        agent.load_state_dict(agent_state)
        if memory_file:
            with np.load(model_dir / memory_file, allow_pickle=False) as npz:
                agent.memory.load_state_dict({k: npz[k] for k in npz.files})
    if hasattr(session.agent_space, "frames"):  # the agent space counts each agent's frames (= agent.frame)
        session.agent_space.frames = [int(agent.frame) for agent in _agents(session)]
    for env, env_state in zip(_envs(session), state["envs"]):
        env.clock.frame, env.clock.episode = int(env_state["frame"]), int(env_state["episode"])
        env.clock.start_wall = time.perf_counter() - float(env_state["wall_t"])
        env.finished = [(int(b), float(r), int(n)) for b, r, n in env_state["finished"]]
        if env_state.get("norm") and hasattr(env, "load_norm_state_dict"):
            env.load_norm_state_dict(env_state["norm"])
        if isinstance(getattr(env, "seed", None), int):  # a fresh seed: the reset must not replay the first episodes
            env.seed = derive_seed(env.seed, frame, 1)
    s = state["session"]
    session.next_log, session.next_eval, session.next_ckpt = s["next_log"], s["next_eval"], s["next_ckpt"]
    _restore_records(session, columns, s)
    (session.dir / DONE_FILE).unlink(missing_ok=True)
    _set_rng_state(state["rng"])  # last: nothing above may draw from the generators
    logger.info(f"session {session.index} resumes at frame {frame} (an episode in progress then is not counted)")
    return True


def mark_session_done(session_dir: Path, frame: int) -> None:
    io.write_json(Path(session_dir) / DONE_FILE, {"frame": int(frame), "finished_at": time.time()})


def session_status(session_dir: Path, max_frame: int) -> str:
    """`done` (finished its budget), `failed` (has error.txt) or `todo`."""
    session_dir = Path(session_dir)
    if (session_dir / ERROR_FILE).is_file():
        return "failed"
    done = session_dir / DONE_FILE
    if done.is_file():
        try:
            if int(io.read_json(done)["frame"]) >= max_frame:
                return "done"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return "todo"


def failure_message(session_dir: Path) -> str:
    """The one-line reason recorded in error.txt (its first line; details follow it)."""
    lines = [ln for ln in (Path(session_dir) / ERROR_FILE).read_text(encoding="utf-8").splitlines() if ln.strip()]
    return lines[0].strip() if lines else "failed (no message recorded)"


# --- run folders --------------------------------------------------------------------------

RUN_DIR = re.compile(r"^(?P<name>.+)_(?P<ts>\d{4}_\d{2}_\d{2}_\d{6})(?:_(?P<n>\d+))?$")


def find_latest_run(spec_name: str, root: Path | None = None, marker: str = "spec.json", mode: str = "train") -> Path:
    """The newest `{spec_name}_{timestamp}` run folder (with a `marker` file) under the data dir.

    `mode`: what is resumed, for the message (search@latest looks for folders with a search plan)."""
    root = root or io.data_root()
    found = []
    for path in root.iterdir() if root.is_dir() else []:
        m = RUN_DIR.match(path.name)
        if m and m["name"] == spec_name and (path / marker).is_file():
            found.append(((m["ts"], int(m["n"] or 0)), path))
    if not found:
        raise SpecError(f"{mode}@latest: no run of '{spec_name}' under {root} (start one with mode '{mode}')")
    return max(found)[1]


def resolve_run_dir(target: str, spec_name: str) -> Path:
    """`latest` or a path, checked to be a run folder of `spec_name`."""
    if not target:
        raise SpecError("mode 'train@' needs a run folder: train@data/<run> or train@latest")
    path = find_latest_run(spec_name) if target == "latest" else Path(target)
    if not path.is_dir():
        raise SpecError(f"train@{target}: no such run folder")
    if not (path / "spec.json").is_file():
        raise SpecError(f"train@{target}: not a run folder (no spec.json; a run killed before it started cannot resume)")
    return path


def load_saved_spec(run_dir: Path, spec_name: str | None = None, overrides: list[str] | None = None) -> Any:
    """The spec saved in `run_dir`, with the overrides a resume allows (`env.N.max_frame`)."""
    from slm_lab.spec import paths
    from slm_lab.spec.loader import parse_assignment, validate

    try:
        raw = io.read_json(run_dir / "spec.json")
    except (OSError, ValueError) as e:
        raise SpecError(f"{run_dir}/spec.json: cannot read: {e}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{run_dir}/spec.json: not a spec")
    if spec_name is not None and raw.get("name") != spec_name:
        raise SpecError(f"{run_dir} is a run of '{raw.get('name')}', not of '{spec_name}'")
    for text in overrides or []:
        key, value = parse_assignment(text)
        if not RESUMABLE_OVERRIDE.match(key):
            raise SpecError(f"override '{text}': a resumed run keeps its saved spec; only env.N.max_frame can change")
        paths.assign(raw, key, value)
    return validate(raw)


def check_resumable(run_dir: Path, spec: Any) -> None:
    """Up-front checks: the folder is not in use and every checkpoint loads safely."""
    from slm_lab.lib.pids import is_locked

    if is_locked(run_dir):
        raise SpecError(f"{run_dir} is in use by a running lab process (stop it first with slm-lab kill)")
    for s in range(spec.meta.max_session):
        path = checkpoint_path(run_dir / f"session_{s}")
        if path.is_file():
            try:
                state = load_session_checkpoint(path.parent.parent)
            except SpecError:
                raise
            except Exception as e:
                raise SpecError(f"{path}: cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
            for name in (state or {}).get("memory_files", []):
                if name and not (path.parent / name).is_file():
                    raise SpecError(f"{path.parent / name}: the replay memory this checkpoint names is missing "
                                    f"(delete {path} to restart session_{s} from scratch)")


def resume_trial(trial_dir: str | Path, spec: Any | None = None, show_progress: bool | None = None,
                 on_progress: Any = None) -> dict[str, Any]:
    """Finish the trial in `trial_dir`: keep finished sessions, continue the others, aggregate.

    `spec`: the saved spec, possibly with a larger max_frame (default: read from the folder).
    `on_progress`: told every session's progress (a resumed search reports it to Ray Tune).
    Safe to call on a complete trial (it only re-aggregates). A resumed search calls this for
    each trial it had started (control/search_resume.py).
    """
    from slm_lab.control.trial import Trial

    trial_dir = Path(trial_dir)
    spec = spec if spec is not None else load_saved_spec(trial_dir)
    trial_index = int(spec.meta.resolved.get("trial", 0))
    return Trial(spec, trial_dir, trial_index, show_progress, resume=True, on_progress=on_progress).run()
