"""Atomic file writes and run-folder paths.

Every write that matters goes to a temp file in the same folder, is fsynced, then renamed
over the target: a run killed at any moment leaves the old file or the new one, never half.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

DATA_DIR_ENV = "SLM_LAB_DATA_DIR"


def data_root() -> Path:
    """The folder holding all runs: $SLM_LAB_DATA_DIR or ./data."""
    return Path(os.environ.get(DATA_DIR_ENV, "data"))


def timestamp() -> str:
    return _dt.datetime.now().strftime("%Y_%m_%d_%H%M%S")


class PathEscapeError(ValueError):
    """A path the lab was about to write lies outside its data dir."""


def inside(path: str | Path, root: str | Path | None = None) -> Path:
    """`path`, checked to stay inside `root` (the data dir) once `..` and links are resolved."""
    root_resolved = Path(root or data_root()).resolve()
    resolved = Path(path).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise PathEscapeError(f"{path} is outside the data dir {root_resolved}")
    return Path(path)


def new_run_dir(spec_name: str, root: Path | None = None) -> Path:
    """`data/{spec_name}_{YYYY_MM_DD_HHMMSS}`, suffixed if two runs start in one second.

    Race-free across processes: each candidate is claimed by an exclusive mkdir, so two runs
    starting at once never share a folder (the loser takes the next suffix)."""
    root = root or data_root()
    if not spec_name or "/" in spec_name or "\\" in spec_name or spec_name.strip(".") == "":
        raise PathEscapeError(f"spec name {spec_name!r} is not a name (letters, digits, _ - .)")
    root.mkdir(parents=True, exist_ok=True)
    base = inside(root / f"{spec_name}_{timestamp()}", root)
    path, n = base, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path = base.with_name(f"{base.name}_{n}")
            n += 1


def check_writable(folder: str | Path) -> None:
    """Raise the OSError a write into `folder` would meet (read-only, full disk, no permission):
    a 4 KiB probe file is written, synced and removed. (os.access misses a full disk.)"""
    probe = Path(folder) / f".slm_lab_write_check.{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"\0" * 4096)
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call `write(fileobj)` on a temp file beside `path`, fsync, then rename onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results follow the user's umask like any file
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import: os.umask sets it too, which is not thread-safe


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def write_json(path: str | Path, obj: Any) -> None:
    """Strict JSON (RFC 8259): a NaN or infinite number is written as null, which readers of the
    lab's files take as "no number" (a metric that could not be computed)."""
    text = json.dumps(strict_json(obj), indent=2, default=_json_default, allow_nan=False)
    atomic_write(path, lambda f: f.write(text))


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float (numpy ones too) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalars and arrays
        return strict_json(obj.tolist())
    return obj


def write_csv(path: str | Path, df: Any) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    atomic_write(path, lambda f: df.to_csv(f, index=False))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays show up in metrics; make them plain JSON
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def disk_error(e: OSError, where: str | Path) -> str:
    """One line for an OSError on writing: what happened where, and the fix."""
    import errno

    fixes = {
        errno.ENOSPC: "free some disk space, or point SLM_LAB_DATA_DIR at a disk with room",
        errno.EDQUOT: "free some of your disk quota, or point SLM_LAB_DATA_DIR elsewhere",
        errno.EROFS: "the file system is read-only: point SLM_LAB_DATA_DIR at a writable folder",
        errno.EACCES: "no permission to write there: point SLM_LAB_DATA_DIR at a folder you can write",
        errno.EPERM: "no permission to write there: point SLM_LAB_DATA_DIR at a folder you can write",
    }
    reason = e.strerror or type(e).__name__
    return f"cannot write to {e.filename or where}: {reason} ({fixes.get(e.errno, 'check the data dir')})"
