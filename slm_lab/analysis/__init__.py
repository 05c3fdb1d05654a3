"""Analysis: the fitness metrics, robust statistics, graphs and reports of runs.

Importing this package is cheap: every public name is loaded from its module on first
use (numpy for metrics, pandas only for a search's tables, matplotlib/plotly only when a
graph is drawn, torch only for TensorBoard), so the CLI can import it without slowing
`slm-lab --help`.

    from slm_lab.analysis import session_end, trial_end, metrics_table
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "session_end": "report",
    "trial_end": "report",
    "metrics_table": "report",
    "write_trial_report": "report",
    "write_experiment_report": "report",
    "plot_experiment": "graphs",
    "plot_compare": "graphs",
    "plot_session": "graphs",
    "random_baseline": "baseline",
    "session_metrics": "metrics",
    "trial_metrics": "metrics",
    "MEANINGS": "metrics",
    "FITNESS_METRICS": "metrics",
    "iqm": "stats",
    "bootstrap_ci": "stats",
    "ScalarLogger": "tensorboard",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slm_lab.analysis' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"slm_lab.analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
