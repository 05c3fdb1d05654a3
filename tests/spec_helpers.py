"""Spec-building helpers shared by the tests (a module of its own: `conftest` names clash across folders)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_spec(algorithm: dict, memory: dict, net: dict | None = None, env: dict | None = None, meta: dict | None = None) -> dict:
    """A small valid spec dict for tests."""
    return {
        "agent": [{"name": "agent", "algorithm": algorithm, "memory": memory, "net": net or {"hid_layers": [32]}}],
        "env": [env or {"name": "CartPole-v1", "num_envs": 2, "max_frame": 2000}],
        "meta": meta or {"max_session": 1, "log_frequency": 500, "eval_frequency": 1000, "eval_episodes": 2},
    }


def write_spec_file(path: Path, specs: dict) -> Path:
    path.write_text(json.dumps(specs))
    return path
