"""Checks made before a run starts, so that what cannot work is refused in one line with
nothing written: the machine's memory, checkpoints and replay memories against the spec, and
a data dir that can take the run (docs/OPERATIONS.md, "What the lab refuses")."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Iterator

from slm_lab.lib import io
from slm_lab.spec.errors import LabError, RunFault, SpecError
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
    from slm_lab.control.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    if not isinstance(state, dict) or not isinstance(state.get("nets"), dict):
        raise SpecError(f"enjoy: {path} is not a model checkpoint of this lab (no 'nets' in it)")
    if spec is not None:
        fix = "(a checkpoint of another spec? enjoy it with the spec it was trained with)"
        problem = nets_problem(state["nets"], net_shapes(spec)[0], spec.name)
        if problem:
            raise SpecError(f"enjoy: {path}: {problem} {fix}")


def net_shapes(spec: Spec) -> list[dict[str, dict[str, tuple[int, ...]]]]:
    """Per agent of the spec: net name -> parameter name -> shape, as the spec builds them."""
    from slm_lab.aeb import AgentSpace, EnvSpace

    env_space = EnvSpace(spec, 0)
    try:
        agents = AgentSpace(spec, env_space, 0).agents
        return [{k: {p: tuple(t.shape) for p, t in net.state_dict().items()} for k, net in agent.nets.items()}
                for agent in agents]
    finally:
        env_space.close()


def nets_problem(nets: Any, expected: dict[str, dict[str, tuple[int, ...]]], spec_name: str) -> str | None:
    """What is missing or misshapen in saved `nets` against `expected`, else None."""
    if not isinstance(nets, dict):
        return "its 'nets' is not a table of nets"
    for name, shapes in expected.items():
        saved = nets.get(name)
        if not isinstance(saved, dict):
            return f"no weights for net '{name}' of {spec_name}"
        for key, shape in shapes.items():
            tensor = saved.get(key)
            got = tuple(tensor.shape) if hasattr(tensor, "shape") else None
            if got != shape:
                return f"{name}.{key} is {got or 'missing'}, {spec_name} builds {shape}"
    return None


RESUME_KEYS = ("frame", "agents", "envs", "session", "memory_files")


def check_resume_checkpoints(run_dir: Path, spec: Spec) -> None:
    """Every session checkpoint a train@ would load holds what a resume reads, the agents' nets
    with the shapes the spec builds: a wrong file is refused now, not as a KeyError mid-resume."""
    from slm_lab.control.checkpoint import load_session_checkpoint
    from slm_lab.lib.layout import RunLayout

    expected = None
    for session in RunLayout(run_dir).sessions():
        if not session.checkpoint.is_file():
            continue
        state = load_session_checkpoint(session.dir)  # weights only; a wrong version is refused there
        fix = f"(delete it to restart {session.dir.name} from scratch)"
        missing = [k for k in RESUME_KEYS if k not in state]
        if missing:
            raise SpecError(f"{session.checkpoint}: not a session checkpoint: no {', '.join(missing)} {fix}")
        agents = state["agents"]
        if not isinstance(state["frame"], int) or not isinstance(agents, list) or len(agents) != len(spec.agent):
            raise SpecError(f"{session.checkpoint}: holds {len(agents) if isinstance(agents, list) else 'no'} agent(s) "
                            f"at frame {state['frame']!r}, the spec has {len(spec.agent)} {fix}")
        expected = expected or net_shapes(spec)
        for a, (agent_state, shapes) in enumerate(zip(agents, expected)):
            nets = agent_state.get("nets") if isinstance(agent_state, dict) else None
            problem = nets_problem(nets, shapes, spec.name)
            if problem:
                raise SpecError(f"{session.checkpoint}: agent {a}: {problem} {fix}")


def check_memory_files(run_dir: Path) -> None:
    """Every saved replay memory of the run opens as plain arrays (no pickles) and reads in full."""
    from slm_lab.lib.layout import RunLayout

    for session in RunLayout(run_dir).sessions():
        for path in session.memory_files():
            _check_memory_file(path, session.checkpoint, session.dir.name)


def _check_memory_file(path: Path, checkpoint: Path, session_name: str) -> None:
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as npz:
            for key in npz.files:
                npz[key]  # reads and CRC-checks the member
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        detail = " ".join(str(e).split())[:120] or type(e).__name__
        raise SpecError(f"{path}: not a readable replay memory ({detail}); delete it and "
                        f"{checkpoint} to restart {session_name} from scratch") from None


def check_folder_writable(folder: Path) -> None:
    """A one-line RunFault unless files can be written into `folder` now (a 4 KiB probe)."""
    try:
        io.check_writable(folder)
    except OSError as e:
        raise RunFault(io.disk_error(e, folder)) from None


def start_run_dir(name: str) -> Path:
    """A new run folder inside the data dir that has taken a file, or a one-line RunFault when
    the data dir cannot take it (read-only, full disk, not a folder): nothing is left behind."""
    try:
        path = io.new_run_dir(name)
    except OSError as e:
        raise RunFault(io.disk_error(e, io.data_root())) from None
    try:  # a folder can be made on a full disk; a file with content cannot
        io.check_writable(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            path.rmdir()
        raise RunFault(io.disk_error(e, path.parent)) from None
    return path


@contextlib.contextmanager
def discarded_if_unused(run_dir: Path) -> Iterator[None]:
    """A run refused before any session started (its env fails its baseline, the disk fills
    while the spec is written) leaves no folder holding only a lock, a log and a spec."""
    try:
        yield
    except (LabError, OSError) as e:
        from slm_lab.lib.layout import RunLayout

        if run_dir.is_dir() and not RunLayout(run_dir).sessions():
            shutil.rmtree(run_dir, ignore_errors=True)
        if isinstance(e, OSError):
            raise RunFault(io.disk_error(e, run_dir)) from None
        raise
