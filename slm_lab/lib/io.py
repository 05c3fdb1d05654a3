"""Atomic file writes and run-folder paths.

Every write that matters goes to a temp file in the same folder, is fsynced, then renamed
over the target: a run killed at any moment leaves the old file or the new one, never half.
"""

from __future__ import annotations

import datetime as _dt
import json
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


def new_run_dir(spec_name: str, root: Path | None = None) -> Path:
    """`data/{spec_name}_{YYYY_MM_DD_HHMMSS}`, suffixed if two runs start in one second."""
    root = root or data_root()
    base = root / f"{spec_name}_{timestamp()}"
    path, n = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}_{n}")
        n += 1
    path.mkdir(parents=True)
    return path


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
    atomic_write(path, lambda f: json.dump(obj, f, indent=2, default=_json_default))


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
