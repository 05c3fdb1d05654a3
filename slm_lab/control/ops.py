"""Lab housekeeping behind `slm-lab reset | clear | kill | sync` (docs/OPERATIONS.md).

- reset: remove the data dir (every run, with its logs) after the user agreed.
- clear: remove caches: __pycache__ and tool caches in the project; `--unity` the Unity
  binaries downloaded into the lab's cache dir.
- kill: stop the processes listed in the lab's pid files (lib/pids.py), never by name.
- sync: copy the data dir into `data_sync_dir` (config/default.json), once or every
  `sync_interval_s` seconds.

Kept free of heavy imports: these answer in well under a second.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from slm_lab.lib import io, pids
from slm_lab.lib.config import load_config, unity_cache_dir
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

CACHE_DIR_NAMES = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis")
# never walked into by `clear`: environments, version control, run data
SKIP_DIR_NAMES = (".venv", "venv", ".git", "node_modules", "data")


class OpsError(RuntimeError):
    """A housekeeping command that must not go ahead now (not bad input): exit status 1."""


# --- reset ----------------------------------------------------------------------------------


def _is_within(path: Path, other: Path) -> bool:
    try:
        path.relative_to(other)
        return True
    except ValueError:
        return False


def reset_targets() -> list[Path]:
    """What `reset` removes: the data dir, if there is one."""
    data = io.data_root().resolve()
    return [data] if data.exists() else []


def check_reset_safe(data: Path) -> None:
    """Refuse a data dir whose removal would take more than runs (a mistyped SLM_LAB_DATA_DIR)."""
    import slm_lab

    precious = [Path.cwd().resolve(), Path.home().resolve(), Path(slm_lab.__file__).resolve().parents[1]]
    for p in precious:
        if _is_within(p, data):
            raise OpsError(f"refusing to remove {data}: it holds {p} (is SLM_LAB_DATA_DIR set right?)")


def reset(confirm: Callable[[str], bool], yes: bool = False) -> list[Path]:
    """Remove the data dir after `confirm(question)` (skipped with `yes`). Returns what was removed."""
    running = pids.list_processes()
    if running:
        raise OpsError(f"{len(running)} lab process(es) are running (pids {', '.join(str(p.pid) for p in running)}): "
                       "stop them first with slm-lab kill")
    targets = reset_targets()
    if not targets:
        return []
    for t in targets:
        check_reset_safe(t)
    question = f"remove {', '.join(str(t) for t in targets)} (every run, with its logs)?"
    if not yes and not confirm(question):
        raise OpsError("nothing removed")
    for t in targets:
        shutil.rmtree(t)
    return targets


# --- clear ----------------------------------------------------------------------------------


def project_root(start: Path | None = None) -> Path | None:
    """The SLM Lab source folder: the nearest folder up from `start` (default: the current
    folder), else the one above the installed package, whose pyproject.toml names slm_lab."""
    import tomllib

    import slm_lab

    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents, Path(slm_lab.__file__).resolve().parents[1]]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
            except (OSError, ValueError):
                continue
            if name == "slm_lab":
                return folder
    return None


def find_caches(root: Path) -> list[Path]:
    found = []
    for folder, dirs, _ in os.walk(root):
        for name in list(dirs):
            if name in CACHE_DIR_NAMES:
                found.append(Path(folder) / name)
                dirs.remove(name)
            elif name in SKIP_DIR_NAMES:
                dirs.remove(name)
    return sorted(found)


def clear(unity: bool = False, root: Path | None = None) -> list[Path]:
    """Remove the project's caches (and the Unity download cache with `unity`); what was removed."""
    root = root or project_root()
    targets = find_caches(root) if root is not None else []
    if unity and unity_cache_dir().exists():
        targets.append(unity_cache_dir())
    for t in targets:
        shutil.rmtree(t, ignore_errors=True)
    return targets


# --- kill -----------------------------------------------------------------------------------


KILL_ORDER = {"experiment": 0, "trial": 0, "run": 0, "session": 1, "worker": 2, "unity": 3, "ray": 4, "child": 5}


def kill_targets(run_dirs: list[Path] | None = None, everything: bool = False) -> list[pids.LabProcess]:
    """The live lab processes `kill` would stop, drivers first so none spawns more, then their
    descendants (Ray's agents, multiprocessing helpers).

    By default those of runs inside this data dir; with `run_dirs`, those of these runs (a
    search's trials included); `everything`: every pid file of this user's cache dir (other
    checkouts' runs, and processes that name no run, like Unity players)."""
    running = pids.list_processes()
    if not everything:
        roots = [Path(d).resolve() for d in run_dirs] if run_dirs else [io.data_root().resolve()]
        running = [p for p in running if p.run_dir is not None and any(_is_within(Path(p.run_dir).resolve(), r) for r in roots)]
    return pids.with_descendants(sorted(running, key=lambda p: KILL_ORDER.get(p.kind, 6)))


def kill(targets: list[pids.LabProcess] | None = None, grace_s: float = 5.0) -> list[pids.LabProcess]:
    """Stop `targets` (default: kill_targets()): SIGTERM, then SIGKILL after `grace_s`."""
    return pids.stop(kill_targets() if targets is None else targets, grace_s)


# --- sync -----------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """What one pass of `sync` did."""

    copied: list[Path] = field(default_factory=list)
    skipped: int = 0


def sync_dirs() -> tuple[Path, Path]:
    """(data dir, data_sync_dir), checked: the target is set and is not inside the source (or vice versa)."""
    config = load_config()
    if not config["data_sync_dir"]:
        from slm_lab.lib.config import config_path

        raise SpecError(f"{config_path()}: data_sync_dir is not set (write the folder to copy runs into there)")
    src = io.data_root().resolve()
    dst = Path(os.path.expanduser(config["data_sync_dir"])).resolve()
    if _is_within(dst, src) or _is_within(src, dst):
        raise SpecError(f"data_sync_dir {dst} overlaps the data dir {src}: choose a folder outside it")
    return src, dst


def _skip(path: Path) -> bool:
    # temp files of atomic writes and lock files are not results
    return path.name.startswith(".") and (path.name.endswith(".tmp") or path.name == pids.LOCK_NAME)


def sync_once(src: Path, dst: Path) -> SyncResult:
    """Copy every file of `src` that is new or changed (size or mtime) into `dst`.

    Each file lands atomically (copied to a temp name, then renamed), so a reader of the
    copy never sees half a file. Files removed from `src` are kept in `dst`: a backup.
    """
    result = SyncResult()
    if not src.is_dir():
        return result
    for folder, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            s = Path(folder) / name
            if _skip(s):
                continue
            d = dst / s.relative_to(src)
            try:
                st = s.stat()
                if d.exists():
                    dt = d.stat()
                    if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
                        result.skipped += 1
                        continue
                d.parent.mkdir(parents=True, exist_ok=True)
                tmp = d.with_name(f".{d.name}.sync.tmp")
                shutil.copy2(s, tmp)
                os.replace(tmp, d)
            except FileNotFoundError:  # replaced by the run while we looked: the next pass copies it
                continue
            result.copied.append(d)
    return result


def sync(watch: bool = False, report: Callable[[SyncResult], None] | None = None,
         passes: int | None = None) -> SyncResult:
    """One pass, or with `watch` a pass every `sync_interval_s` (or `passes` passes); Ctrl-C
    raises KeyboardInterrupt out of the wait, after the last pass finished its files."""
    src, dst = sync_dirs()
    interval = float(load_config()["sync_interval_s"])
    n = 0
    while True:
        result = sync_once(src, dst)
        n += 1
        if report is not None:
            report(result)
        if not watch or (passes is not None and n >= passes):
            return result
        time.sleep(interval)
