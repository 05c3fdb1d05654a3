"""Searchers for Ray Tune: trial numbering around any Tune searcher, and Optuna's TPE
(Bergstra et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011)."""

from __future__ import annotations

import math
from typing import Any, Callable

from slm_lab.control import search_state
from slm_lab.control.search_plan import Continuation, Plan
from slm_lab.spec.schema import Spec

def numbered_searcher(inner: Any, start: int = 0, fixed: list[dict[str, Any]] | None = None,
                       told: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
                       on_draw: Callable[[int, dict[str, Any]], None] | None = None) -> Any:
    """Wrap a Tune Searcher so each suggestion carries `trial_index` start, start + 1, ... (folder
    names and seeds need a small, stable index), and only final results reach it (Optuna wants
    the score). `on_draw(index, config)` hears every draw before Tune runs it.

    A resumed search first hands out `fixed` (configs drawn before, with their trial_index)
    and tells the inner searcher `told`, the (config, row) of the trials it keeps, so its
    new draws learn from them as if it had drawn them itself."""
    from ray.tune.search import Searcher

    # Longer than 60 lines for a reason: the class is defined here because its base comes from
    # Ray, which is imported only when a search runs (never on the CLI's import path).
    class Numbered(Searcher):
        """Numbers the suggestions of the searcher it wraps."""

        def __init__(self, searcher: Any) -> None:
            # no metric of its own: Tune would then demand `strength` in every intermediate result
            super().__init__(metric=None, mode=None)
            self.searcher = searcher
            self.count = start
            self.fixed = list(fixed or [])
            self.drawn: set[str] = set()  # trial ids the inner searcher suggested (it knows no others)
            self.handed: dict[str, dict] = {}  # trial id -> config of a fixed trial handed out

        def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
            ok = self.searcher.set_search_properties(metric, mode, config, **spec)
            for past, row in told or []:  # the search space is known only now
                tell(self.searcher, past, row)
            return ok

        def suggest(self, trial_id: str) -> dict | None:
            if self.fixed:
                config = self.fixed.pop(0)
                self.handed[trial_id] = {k: v for k, v in config.items() if k != "trial_index"}
                return config
            config = self.searcher.suggest(trial_id)
            if isinstance(config, dict):
                if on_draw is not None:
                    on_draw(self.count, config)
                config = {**config, "trial_index": self.count}
                self.count += 1
                self.drawn.add(trial_id)
            return config

        def on_trial_result(self, trial_id: str, result: dict) -> None:
            pass  # intermediate results carry no strength yet

        def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
            if trial_id in self.handed:  # a fixed trial of a resume: told as a point it did not draw
                final = result is not None and bool(result.get("final"))
                status = "ok" if final else "error" if error else "stopped"
                tell(self.searcher, self.handed.pop(trial_id), {"status": status, "strength": (result or {}).get("strength")})
                return
            if trial_id not in self.drawn:
                return
            if result is not None and not result.get("final"):
                result = None  # stopped early: no score (Optuna records it as pruned)
            self.searcher.on_trial_complete(trial_id, result=result, error=error)

        # Tune snapshots its own experiment state as it goes; the lab resumes from its records instead
        def get_state(self) -> dict:
            return {"count": self.count}

        def set_state(self, state: dict) -> None:
            self.count = int(state.get("count", 0))

    return Numbered(inner)


def tell(searcher: Any, config: dict[str, Any], row: dict[str, Any]) -> None:
    """Tell an Optuna searcher how a trial it did not draw itself ended (a kept trial of a resume)."""
    strength = row.get("strength")
    if row["status"] == "ok" and isinstance(strength, (int, float)) and math.isfinite(strength):
        searcher.add_evaluated_point(config, float(strength))
    else:  # stopped early, failed, or no finite score: what Optuna calls pruned or failed
        searcher.add_evaluated_point(config, None, error=row["status"] == "error", pruned=row["status"] != "error")


def optuna_searcher(spec: Spec, plan: Plan, cont: Continuation | None) -> tuple[Any, int]:
    """Optuna's TPE, numbered, recording each draw; on a resume it first runs the trials drawn
    before and learns from the kept ones. Returns the search alg and Tune's num_samples."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    inner = OptunaSearch(metric="strength", mode="max", seed=spec.meta.seed)

    def on_draw(index: int, config: dict[str, Any]) -> None:
        if plan.record:
            search_state.record_draw(plan.exp_dir, index, config)

    if cont is None:
        return numbered_searcher(inner, on_draw=on_draw), spec.meta.max_trial
    fixed = [{**cont.configs[i], "trial_index": i} for i in cont.todo]
    return (numbered_searcher(inner, cont.start, fixed, cont.told, on_draw), len(fixed) + cont.new)
