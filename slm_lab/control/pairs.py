"""The spec as one (agent, env) pair or one team of a multi-agent run sees it: what its own
metrics, random baseline and tables are computed from."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from slm_lab.spec.schema import Spec


def pair_spec(spec: Spec, a: int, e: int) -> Spec:
    """The spec as seen by one (agent, env) pair, for per-pair metrics: its body is the custom
    list of the agent's own bodies of env e, so the random baseline measures those bodies."""
    from slm_lab.spec.aeb_check import pair_bodies
    from slm_lab.spec.schema import BodySpec

    update: dict[str, Any] = {"name": f"{spec.name} a{a} e{e}", "agent": [spec.agent[a]], "env": [spec.env[e]]}
    bodies = pair_bodies(spec, a, e)
    if bodies is not None:
        update["body"] = BodySpec(product="custom", custom=[[0, 0, b] for b in bodies])
    return spec.model_copy(update=update)


def finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def team_spec(spec: Spec, team: str, e: int, agents: list[int]) -> Spec:
    """The spec as seen by a team in env e: its first agent's block, and all its agents' bodies
    (so the random baseline measures the team's bodies under a random joint policy)."""
    from slm_lab.spec.aeb_check import pair_bodies
    from slm_lab.spec.schema import BodySpec

    bodies = [pair_bodies(spec, a, e) for a in agents]
    update: dict[str, Any] = {"name": f"{spec.name} team {team} e{e}", "agent": [spec.agent[agents[0]]], "env": [spec.env[e]]}
    if all(b is not None for b in bodies):
        update["body"] = BodySpec(product="custom", custom=[[0, 0, b] for group in bodies for b in sorted(group)])
    return spec.model_copy(update=update)


def pair_labels(spec: Spec) -> list[tuple[int, int]]:
    """The (agent, env) pairs that record separately; [] when the spec has a single pair."""
    from slm_lab.spec.aeb_check import pairs

    found = pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom)
    return found if len(found) > 1 else []
