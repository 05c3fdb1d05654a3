"""Checks made before a run starts, so that what cannot work is refused in one line with
nothing written: the machine's memory, checkpoints and replay memories against the spec, and
a data dir that can take the run (docs/OPERATIONS.md, "What the lab refuses")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slm_lab.lib import io
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec


def check_fits_memory(spec: Spec) -> None:
    """Refuse, in one line, a spec whose replay memory and nets cannot fit this machine."""
    from slm_lab.lib.footprint import fits_problem

    problem = fits_problem(spec)
    if problem:
        raise SpecError(problem)


def check_model(path: Path, spec: Spec | None = None) -> None:
    """Load the checkpoint now (weights only) so a bad or unsafe file is refused before anything
    runs; with `spec`, every net weight must be there with the shape the spec builds."""
    from slm_lab.control.session import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("nets"), dict):
        raise SpecError(f"enjoy: {path} is not a model checkpoint of this lab (no 'nets' in it)")
    if spec is not None:
        check_nets_fit(path, state["nets"], spec)


def check_nets_fit(path: Path, nets: dict[str, Any], spec: Spec) -> None:
    """Every weight the spec's agent 0 builds is in `nets`, with the same shape."""
    from slm_lab.aeb import AgentSpace, EnvSpace

    env_space = EnvSpace(spec, 0)
    try:
        agent = AgentSpace(spec, env_space, 0).agents[0]
        expected = {k: {p: tuple(t.shape) for p, t in net.state_dict().items()} for k, net in agent.nets.items()}
    finally:
        env_space.close()
    fix = "(a checkpoint of another spec? enjoy it with the spec it was trained with)"
    for name, shapes in expected.items():
        saved = nets.get(name)
        if not isinstance(saved, dict):
            raise SpecError(f"enjoy: {path} has no weights for net '{name}' of {spec.name} {fix}")
        for key, shape in shapes.items():
            tensor = saved.get(key)
            got = tuple(tensor.shape) if hasattr(tensor, "shape") else None
            if got != shape:
                raise SpecError(f"enjoy: {path}: {name}.{key} is {got or 'missing'}, {spec.name} builds {shape} {fix}")


def check_memory_files(run_dir: Path) -> None:
    """Every saved replay memory of the run opens as plain arrays (no pickles) and reads in full."""
    import zipfile

    import numpy as np

    for path in sorted(run_dir.glob("session_*/model/memory_*.npz")):
        try:
            with np.load(path, allow_pickle=False) as npz:
                for key in npz.files:
                    npz[key]  # reads and CRC-checks the member
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
            detail = " ".join(str(e).split())[:120] or type(e).__name__
            raise SpecError(f"{path}: not a readable replay memory ({detail}); delete it and "
                            f"{path.parent / 'checkpoint.pt'} to restart {path.parent.parent.name} from scratch") from None


def check_folder_writable(folder: Path) -> None:
    """A one-line SpecError unless files can be written into `folder` now."""
    try:
        io.check_writable(folder)
    except OSError as e:
        raise SpecError(data_dir_problem(e, folder)) from None


def start_run_dir(name: str) -> Path:
    """A new run folder inside the data dir, or a one-line SpecError when the data dir cannot
    take it (read-only, full disk, not a folder): nothing is left behind."""
    try:
        path = io.new_run_dir(name)
        try:  # a folder can be made on a full disk; a file with content cannot
            io.check_writable(path)
        except OSError:
            path.rmdir() if path.is_dir() and not any(path.iterdir()) else None
            raise
        return path
    except io.OutsideDataDir as e:
        raise SpecError(str(e)) from None
    except OSError as e:
        raise SpecError(data_dir_problem(e)) from None


def discard_if_unused(run_dir: Path) -> None:
    """Remove a run folder no session has written to (it holds at most the lock, log and spec)."""
    import shutil

    if run_dir.is_dir() and not any(run_dir.glob("session_*")):
        shutil.rmtree(run_dir, ignore_errors=True)


def data_dir_problem(e: OSError, folder: Path | None = None) -> str:
    """One line naming what is wrong with the data dir (or `folder` in it) and the fix."""
    import errno

    where = f"data dir {io.data_root()}" if folder is None else str(folder)
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return f"{where}: no space left on its disk (free some space, or set $SLM_LAB_DATA_DIR to another disk)"
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{where}: cannot write there ({e.strerror}); make it writable or set $SLM_LAB_DATA_DIR"
    return f"{where}: cannot write there ({e.strerror or e}); check it or set $SLM_LAB_DATA_DIR"
