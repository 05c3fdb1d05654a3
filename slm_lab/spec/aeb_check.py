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
    check_critic_inputs(spec)


def check_critic_inputs(spec: Any) -> None:
    """A centralized critic (`algorithm.critic_input` other than "own") needs its own net fed
    from a rollout memory, in PettingZoo envs only (a single-agent env has no other agents to
    see; whether the env has a global state is known when it starts). Raises ValueError."""
    for a, agent in enumerate(spec.agent):
        kind = getattr(agent.algorithm, "critic_input", "own")
        if kind == "own":
            continue
        where = f"agent[{a}].algorithm.critic_input {kind!r}"
        if agent.net.shared:
            raise ValueError(f"{where} needs a separate critic: set net.shared false (one trunk cannot take two inputs)")
        if agent.memory.name != "OnPolicyBatchReplay":
            raise ValueError(f"{where} needs memory OnPolicyBatchReplay (it stores the critic inputs), not {agent.memory.name}")
        for pa, e in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom):
            if pa == a and spec.env[e].kind != "pettingzoo":
                raise ValueError(f"{where} needs a PettingZoo multi-agent env; env[{e}] {spec.env[e].name!r} "
                                 "is single-agent (set critic_input \"own\")")


def env_body_count(env: Any) -> int | None:
    """An env's body count without starting it where that is cheap: a Gymnasium env's
    num_envs, a PettingZoo env's number of possible agents; None for a Unity env."""
    count = static_body_count(env)
    if count is not None or not env.name.startswith("pettingzoo:"):
        return count
    import importlib

    module = importlib.import_module(env.name.split(":", 1)[1])
    penv = module.parallel_env(**env.kwargs) if hasattr(module, "parallel_env") else module.env(**env.kwargs)
    try:
        return len(penv.possible_agents)
    finally:
        penv.close()


def pair_bodies(spec: Any, a: int, e: int) -> list[int] | None:
    """The bodies of env e that agent a owns, or None where the env's body count is only known
    once it runs (Unity)."""
    counts = [env_body_count(env) if i == e else static_body_count(env) for i, env in enumerate(spec.env)]
    if counts[e] is None:
        return None
    return assign_bodies(spec.body, len(spec.agent), counts).get((a, e))


def teams(spec: Any) -> dict[str, list[int]]:
    """Team name -> its agents, for the teams of two agents or more (a one-agent team's records
    are that agent's own)."""
    out: dict[str, list[int]] = {}
    for a, agent in enumerate(spec.agent):
        if agent.team is not None:
            out.setdefault(agent.team, []).append(a)
    return {t: agents for t, agents in out.items() if len(agents) > 1}


def team_envs(spec: Any) -> list[tuple[str, int, list[int]]]:
    """(team, env, the team's agents in that env) for each env where two or more team agents play."""
    found = pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom)
    out = []
    for t, agents in teams(spec).items():
        for e in range(len(spec.env)):
            members = [a for a in agents if (a, e) in found]
            if len(members) > 1:
                out.append((t, e, members))
    return out
