"""The AEB space: agents x environments x bodies. Thin containers, no learning logic.

A "space" maps an (agent, env) pair to batched arrays with a leading body axis. Every body
of every env belongs to exactly one agent (spec/aeb_check.py). An agent sees one batch: its
bodies from all its envs concatenated, so an algorithm written for one body works for many
bodies, several envs (multitask, one set of weights) and its share of a multi-agent env.
Envs step in lockstep; each keeps its own clock.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm import Algorithm
from slm_lab.env.factory import make_env
from slm_lab.env.protocol import BodySpaces, StepResult
from slm_lab.lib.device import enable_compile_cache, resolve_device
from slm_lab.spec.aeb_check import Assignment, assign_bodies
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec

Pair = tuple[int, int]  # (agent index, env index)


class EnvSpace:
    """All envs of a session, stepped together; env e gets its own seed stream."""

    def __init__(self, spec: Spec, seed: int) -> None:
        self.envs = []
        try:
            for e, env_spec in enumerate(spec.env):
                self.envs.append(make_env(env_spec, seed + 1000 * e))
        except BaseException:
            self.close()
            raise

    def reset(self) -> dict[int, np.ndarray]:
        return {e: env.reset() for e, env in enumerate(self.envs)}

    def step(self, action_space: dict[int, np.ndarray]) -> dict[int, StepResult]:
        return {e: self.envs[e].step(action_space[e]) for e in range(len(self.envs))}

    def done(self) -> bool:
        # lockstep: the session ends when the first env has used its budget
        return any(env.clock.done() for env in self.envs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _combined_spaces(agent: int, parts: list[tuple[int, list[int]]], envs: list) -> BodySpaces:
    """One BodySpaces for all of an agent's bodies; their envs must agree on shapes."""
    first_e = parts[0][0]
    ref = envs[first_e].spaces
    for e, _ in parts[1:]:
        sp = envs[e].spaces
        if (sp.obs_dim, sp.action_dim, sp.is_discrete) != (ref.obs_dim, ref.action_dim, ref.is_discrete):
            raise SpecError(
                f"agent {agent}: env {e} ({envs[e].spec.name}) has observation size {sp.obs_dim} and "
                f"{'discrete' if sp.is_discrete else 'continuous'} action size {sp.action_dim}, but env {first_e} "
                f"({envs[first_e].spec.name}) has {ref.obs_dim} and {ref.action_dim}: one net cannot take both"
            )
    return replace(ref, num_bodies=sum(len(bodies) for _, bodies in parts))


class AgentSpace:
    """All agents of a session. Each acts once per step on the concatenation of its bodies."""

    def __init__(self, spec: Spec, env_space: EnvSpace, seed: int, session: int = 0) -> None:
        self.envs = env_space.envs
        try:
            self.assignment: Assignment = assign_bodies(spec.body, len(spec.agent), [env.num_bodies for env in self.envs])
        except ValueError as e:
            raise SpecError(f"{spec.name}: {e}") from None
        # per agent: [(env, body indices)] in env order
        self.parts: list[list[tuple[int, list[int]]]] = [
            sorted((e, bodies) for (a, e), bodies in self.assignment.items() if a == agent) for agent in range(len(spec.agent))
        ]
        self.agents: list[Algorithm] = []
        for a, agent_spec in enumerate(spec.agent):
            spaces = _combined_spaces(a, self.parts[a], self.envs)
            # the agent's budget: its share of every env's frames
            max_frame = sum(self.envs[e].clock.max_frame * len(b) // self.envs[e].num_bodies for e, b in self.parts[a])
            try:
                agent = make_agent(agent_spec, spaces, max_frame, seed + 7919 * a)
            except ValueError as e:
                raise SpecError(f"{spec.name}: agent {a} in env(s) {[self.envs[e].spec.name for e, _ in self.parts[a]]}: {e}") from None
            # session j of a trial takes GPU j mod n (lib/device.py); nets move once, before any training
            agent.to(resolve_device(agent_spec.net.gpu, session, where=f"agent[{a}].net.gpu"))
            if spec.meta.compile:
                enable_compile_cache()
                agent.compile()
            self.agents.append(agent)
        self.frames = [0] * len(self.agents)

    def state_dict(self) -> dict[str, list[int]]:
        """Each agent's frame count (its share of its envs' frames)."""
        return {"frames": [int(f) for f in self.frames]}

    def load_state_dict(self, state: dict[str, list[int]]) -> None:
        # checkpoints written before the space saved its counts: the agents' own frames are the same
        self.frames = [int(f) for f in state.get("frames", [agent.frame for agent in self.agents])]

    @property
    def pairs(self) -> list[Pair]:
        return sorted(self.assignment)

    def _gather(self, a: int, per_env: dict[int, np.ndarray]) -> np.ndarray:
        parts = self.parts[a]
        if len(parts) == 1 and len(parts[0][1]) == self.envs[parts[0][0]].num_bodies:
            return per_env[parts[0][0]]  # the common case: one agent owns one whole env, no copy
        return np.concatenate([per_env[e][bodies] for e, bodies in parts])

    def act(self, state_space: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Actions per env, each assembled from the slices its agents chose."""
        if len(self.agents) == 1 and len(self.envs) == 1:
            return {0: self.agents[0].act(state_space[0])}
        action_space: dict[int, np.ndarray] = {}
        for a, agent in enumerate(self.agents):
            actions = agent.act(self._gather(a, state_space))
            start = 0
            for e, bodies in self.parts[a]:
                if e not in action_space:
                    action_space[e] = np.zeros((self.envs[e].num_bodies, *actions.shape[1:]), dtype=actions.dtype)
                action_space[e][bodies] = actions[start:start + len(bodies)]
                start += len(bodies)
        return action_space

    def update(self, state_space: dict[int, np.ndarray], action_space: dict[int, np.ndarray], step_space: dict[int, StepResult]) -> None:
        for a, agent in enumerate(self.agents):
            self.frames[a] += agent.spaces.num_bodies
            gather = lambda per_env: self._gather(a, per_env)  # noqa: E731
            agent.update(
                gather(state_space), gather(action_space),
                gather({e: s.reward for e, s in step_space.items()}),
                gather({e: s.next_state for e, s in step_space.items()}),
                gather({e: s.terminated for e, s in step_space.items()}),
                gather({e: s.truncated for e, s in step_space.items()}),
                self.frames[a],
            )
