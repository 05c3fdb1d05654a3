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


class OutsideDataDir(ValueError):
    """A path the lab was about to write lies outside its data dir (a crafted name or target)."""


def inside_data_dir(path: str | Path, root: Path | None = None) -> Path:
    """`path` resolved, after checking it stays inside the data dir (symlinks and `..` followed):
    every run folder and file the lab creates goes through here."""
    root = (root or data_root()).resolve()
    resolved = Path(path).resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideDataDir(f"'{path}' is outside the data dir {root}; the lab writes only there")
    return resolved


def new_run_dir(spec_name: str, root: Path | None = None) -> Path:
    """`data/{spec_name}_{YYYY_MM_DD_HHMMSS}`, suffixed `_1`, `_2`, ... if that name is taken.

    The folder is made with an exclusive mkdir, so two processes starting in the same second
    each get their own (a lost race moves on to the next suffix instead of failing)."""
    root = root or data_root()
    root.mkdir(parents=True, exist_ok=True)
    base = f"{spec_name}_{timestamp()}"
    for n in range(10_000):
        path = root / (base if n == 0 else f"{base}_{n}")
        inside_data_dir(path, root)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name for {base} in {root}")


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


def strict_json(obj: Any) -> Any:
    """`obj` with every NaN / Infinity replaced by None, so strict parsers read what the lab
    writes (null means "no finite value": see docs/OPERATIONS.md). numpy values become plain."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):
        return strict_json(obj.tolist())
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        return strict_json(obj.item())
    return obj


def dumps_json(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text (no bare NaN / Infinity)."""
    return json.dumps(strict_json(obj), indent=indent, default=_json_default, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> None:
    text = dumps_json(obj)  # built before the temp file exists: a bad object leaves nothing behind
    atomic_write(path, lambda f: f.write(text))


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
