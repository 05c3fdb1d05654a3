"""SLM Lab: spec-driven deep reinforcement learning experiments.

The Python API (slm_lab/api.py, docs/API.md) is imported on first use, so `import slm_lab`
stays light for the command line.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("train", "search", "load_policy", "register", "TrialResult", "ExperimentResult", "SessionResult")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API or name == "api":
        import importlib

        api = importlib.import_module("slm_lab.api")
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'slm_lab' has no attribute '{name}'")
