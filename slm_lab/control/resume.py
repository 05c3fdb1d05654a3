"""Resume an interrupted trial: `slm-lab run SPEC_FILE SPEC_NAME train@<run dir | latest>`.

This module sits above Trial: it finds the run folder, reads the spec saved there (only
`env.N.max_frame` may change, to train further: a finished session whose budget grows goes
on from its final checkpoint), checks up front that the folder is free and every checkpoint
loads safely, then lets Trial continue it. Trial keeps finished sessions as they are, leaves
a session with `error.txt` failed (delete the file to retry it) and restarts any other from
its checkpoint (from scratch when it has none). What a checkpoint holds and how a session
is restored from it, exactly where its envs can be saved: control/checkpoint.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from slm_lab.control.checkpoint import load_session_checkpoint, memory_checkpointable  # noqa: F401
from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

RESUMABLE_OVERRIDE = re.compile(r"^env\.\d+\.max_frame$")


# --- run folders --------------------------------------------------------------------------

RUN_DIR = re.compile(r"^(?P<name>.+)_(?P<ts>\d{4}_\d{2}_\d{2}_\d{6})(?:_(?P<n>\d+))?$")


def find_latest_run(spec_name: str, root: Path | None = None, marker: str | None = None, mode: str = "train") -> Path:
    """The newest `{spec_name}_{timestamp}` run folder (with a `marker` file) under the data dir.

    `mode`: what is resumed, for the message (search@latest looks for folders with a search plan)."""
    root = root or io.data_root()
    marker = marker or RunLayout(root).spec_json.name
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
    spec_json = RunLayout(path).spec_json
    if not spec_json.is_file():
        raise SpecError(f"train@{target}: not a run folder (no {spec_json.name}; a run killed before it started cannot resume)")
    return path


def load_saved_spec(run_dir: Path, spec_name: str | None = None, overrides: list[str] | None = None) -> Any:
    """The spec saved in `run_dir`, with the overrides a resume allows (`env.N.max_frame`)."""
    from slm_lab.spec import paths
    from slm_lab.spec.loader import parse_assignment, validate

    spec_json = RunLayout(Path(run_dir)).spec_json
    try:
        raw = io.read_json(spec_json)
    except (OSError, ValueError) as e:
        raise SpecError(f"{spec_json}: cannot read: {e}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{spec_json}: not a spec")
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
    run = RunLayout(Path(run_dir))
    for s in range(spec.meta.max_session):
        session = run.session(s)
        path = session.checkpoint
        if path.is_file():
            try:
                state = load_session_checkpoint(session.dir)
            except SpecError:
                raise
            except Exception as e:
                raise SpecError(f"{path}: cannot be loaded ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
            for name in (state or {}).get("memory_files", []):
                if name and not (session.model_dir / name).is_file():
                    raise SpecError(f"{session.model_dir / name}: the replay memory this checkpoint names is missing "
                                    f"(delete {path} to restart {session.dir.name} from scratch)")


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
