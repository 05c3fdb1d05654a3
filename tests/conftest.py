"""Shared fixtures: every test writes runs under its own tmp data dir and cache dir."""

from __future__ import annotations

from pathlib import Path

import pytest



@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("SLM_LAB_DATA_DIR", str(data))
    monkeypatch.setenv("SLM_LAB_CACHE_DIR", str(tmp_path / "cache"))
    return data
