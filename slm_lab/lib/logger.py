"""Logging set-up: the standard `logging` module, one 'slm_lab' logger tree."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"
DATEFMT = "%Y-%m-%d %H:%M:%S"


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("slm_lab") else f"slm_lab.{name}")


def setup_logging(level: int | str = logging.INFO, log_file: str | Path | None = None, stderr: bool = True) -> None:
    """Log to stderr and optionally a file. Idempotent: replaces the lab's own handlers."""
    root = logging.getLogger("slm_lab")
    root.setLevel(level)
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    formatter = logging.Formatter(FORMAT, DATEFMT)
    if stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(formatter)
        root.addHandler(stream)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(formatter)
        root.addHandler(fh)


class log_to_file:
    """Context manager: also send the lab's log records to `path` while inside."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.handler: logging.Handler | None = None

    def __enter__(self) -> "log_to_file":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter(FORMAT, DATEFMT))
        logging.getLogger("slm_lab").addHandler(self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handler is not None:
            logging.getLogger("slm_lab").removeHandler(self.handler)
            self.handler.close()
