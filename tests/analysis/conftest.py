"""Fixtures of the analysis tests: an isolated baseline cache, synthetic trial folders."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from analysis_helpers import make_spec, write_session

from slm_lab.analysis import baseline
from slm_lab.lib import io
from slm_lab.spec.schema import Spec


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the user's real baseline cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(baseline.CACHE_DIR_ENV, str(cache))
    baseline.clear_memo()
    yield cache
    baseline.clear_memo()


@pytest.fixture
def make_trial() -> Callable[..., tuple[Path, Spec, list[Path]]]:
    """Build `trial_dir/{spec.json, session_0..n-1}`; odd sessions evaluate 4 frames late."""

    def _make(trial_dir: Path, n_sessions: int = 3, spec: Spec | None = None) -> tuple[Path, Spec, list[Path]]:
        spec = spec or make_spec()
        trial_dir.mkdir(parents=True, exist_ok=True)
        io.write_json(trial_dir / "spec.json", spec.model_dump())
        dirs = [write_session(trial_dir / f"session_{s}", seed=s, frame_offset=4 * (s % 2)) for s in range(n_sessions)]
        return trial_dir, spec, dirs

    return _make
