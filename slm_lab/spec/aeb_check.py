"""Resolve a spec's AEB space into body assignments, and the static checks of the schema.

Kept free of heavy imports: `slm-lab check` uses it. The session builds the same
assignment from the live envs' body counts with `assign_bodies`.
"""

from __future__ import annotations

from typing import Any

# (agent, env) -> the indices of env's bodies the agent controls
Assignment = dict[tuple[int, int], list[int]]


def pairs(product: str, n_agents: int, n_envs: int, custom: list[list[int]] | None = None) -> list[tuple[int, int]]:
    """The (agent, env) pairs: outer = all, inner = (i, i), custom = those in the list, in order."""
    if product == "inner":
        return [(i, i) for i in range(n_agents)]
    if product == "custom":
        seen: list[tuple[int, int]] = []
        for a, e, _ in custom or []:
            if (a, e) not in seen:
                seen.append((a, e))
        return seen
    return [(a, e) for a in range(n_agents) for e in range(n_envs)]


def assign_bodies(body: Any, n_agents: int, env_bodies: list[int]) -> Assignment:
    """Give every body of every env to exactly one agent. Raises ValueError naming the problem."""
    n_envs = len(env_bodies)
    if body.product == "inner" and n_agents != n_envs:
        raise ValueError(f"body.product 'inner' pairs agent i with env i, but there are {n_agents} agents and {n_envs} envs")
    if body.product == "custom":
        if not body.custom:
            raise ValueError("body.product 'custom' needs body.custom, a list of [agent, env, body] triples")
        out: Assignment = {}
        owner: dict[tuple[int, int], int] = {}
        for a, e, b in body.custom:
            if a >= n_agents:
                raise ValueError(f"body.custom: agent {a} does not exist ({n_agents} agents)")
            if e >= n_envs:
                raise ValueError(f"body.custom: env {e} does not exist ({n_envs} envs)")
            if env_bodies[e] is not None and b >= env_bodies[e]:
                raise ValueError(f"body.custom: env {e} has {env_bodies[e]} bodies, so body {b} does not exist")
            if (e, b) in owner:
                raise ValueError(f"body.custom: body {b} of env {e} is given to agents {owner[(e, b)]} and {a}")
            owner[(e, b)] = a
            out.setdefault((a, e), []).append(b)
        for e, n in enumerate(env_bodies):
            missing = [b for b in range(n or 0) if (e, b) not in owner]
            if missing:
                raise ValueError(f"body.custom: bodies {missing} of env {e} belong to no agent")
        for a in range(n_agents):
            if not any(pa == a for pa, _ in out):
                raise ValueError(f"body.custom: agent {a} has no body")
        return out
    out = {}
    for e, n in enumerate(env_bodies):
        agents = [a for a, pe in pairs(body.product, n_agents, n_envs) if pe == e]
        if not agents:
            raise ValueError(f"env {e} has no agent (body.product '{body.product}')")
        if n is None:
            continue
        k = len(agents)
        if n % k:
            raise ValueError(f"env {e} has {n} bodies, which cannot be split evenly among its {k} agents")
        per = n // k
        if body.num is not None and body.num != per:
            raise ValueError(f"body.num is {body.num} but env {e} gives each of its {k} agent(s) {per} bodies")
        for i, a in enumerate(agents):
            out[(a, e)] = list(range(i * per, (i + 1) * per))
    return out


def static_body_count(env: Any) -> int | None:
    """Bodies of a Gymnasium env are its num_envs; other kinds report theirs when started."""
    return None if env.has_own_bodies else env.num_envs


def check_aeb(spec: Any) -> None:
    assign_bodies(spec.body, len(spec.agent), [static_body_count(e) for e in spec.env])
