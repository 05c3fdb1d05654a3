"""Append-only CSV tables (train.csv, eval.csv, bodies.csv): one line per row, header once.

A row is appended with one write of one line and no fsync, so logging costs the same at the
millionth row as at the first (rewriting the whole table with an fsync per row grew with
the run). Atomicity is kept at the level of a line: a process killed inside a write can
leave a torn last line (no line end); `read_table` drops it, and `append_row` cuts it off
before appending, so a table on disk always parses to whole rows. The header is written
atomically with the first row's file (lib/io.py), so a table never lacks its header.
"""

from __future__ import annotations

import csv
import io as _io
import math
import numbers
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from slm_lab.lib import io


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(int(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else repr(value)  # repr round-trips every float exactly
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def format_line(row: dict[str, Any], columns: list[str]) -> str:
    return ",".join(_cell(row.get(c)) for c in columns) + "\n"


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its line end (a write killed half-way)."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        block = min(size, 1 << 16)
        while True:
            f.seek(size - block)
            data = f.read(block)
            cut = data.rfind(b"\n")
            if cut >= 0 or block == size:
                f.truncate(size - block + cut + 1 if cut >= 0 else 0)
                return
            block = min(size, block * 2)


def append_row(path: str | Path, row: dict[str, Any], columns: list[str]) -> None:
    """Append one row; the first makes the file with its header (atomically)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        io.write_text(path, ",".join(columns) + "\n" + format_line(row, columns))
        return
    _drop_torn_tail(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, format_line(row, columns).encode("utf-8"))
    finally:
        os.close(fd)


def write_table(path: str | Path, rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """The whole table at once, atomically (a resume cutting a table back to its checkpoint)."""
    io.write_text(path, ",".join(columns) + "\n" + "".join(format_line(r, columns) for r in rows))


class Table:
    """A table read back from disk: its columns in file order, each one numpy array.

    A column whose cells are all integers is int64, one of numbers (an empty cell is NaN)
    float64, any other holds the cells as text. Reading the lab's own tables this way keeps
    pandas (and the pyarrow it loads, ~100 MiB together) out of a run's process: the
    session and trial analysis only ever needs columns of numbers (docs/BENCHMARKS.md, peak
    memory). `to_frame()` gives the pandas DataFrame where one is wanted.
    """

    def __init__(self, columns: dict[str, np.ndarray] | None = None) -> None:
        self.data: dict[str, np.ndarray] = dict(columns or {})

    @property
    def columns(self) -> list[str]:
        return list(self.data)

    def __contains__(self, name: object) -> bool:
        return name in self.data

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    @property
    def empty(self) -> bool:
        return len(self) == 0

    def where(self, keep: np.ndarray) -> Table:
        """The rows where `keep` is true."""
        return Table({name: values[keep] for name, values in self.data.items()})

    def rows(self) -> list[dict[str, Any]]:
        """One dict per row, with plain Python numbers (NaN for an empty number cell)."""
        lists = {name: values.tolist() for name, values in self.data.items()}
        return [{name: lists[name][i] for name in lists} for i in range(len(self))]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.data, columns=self.columns)


def _column(cells: list[str]) -> np.ndarray:
    """int64 if every cell is an integer, float64 if every non-empty cell is a number, else text."""
    try:
        return np.array([int(c) for c in cells], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    try:
        return np.array([float(c) if c.strip() else math.nan for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=object)


def read_table(path: str | Path) -> Table:
    """The table without a torn last line; a missing or empty file is an empty table."""
    path = Path(path)
    if not path.is_file():
        return Table()
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    lines = list(csv.reader(_io.StringIO(text)))
    if not lines:
        return Table()
    header, body = lines[0], [line for line in lines[1:] if line]
    width = len(header)
    body = [(line + [""] * width)[:width] for line in body]  # a short row's missing cells are empty
    return Table({name: _column([line[j] for line in body]) for j, name in enumerate(header)})
