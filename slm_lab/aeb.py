"""The AEB space: agents x environments x bodies. Thin containers, no learning logic.

A "space" is a mapping from an (agent, env) pair to batched arrays with a leading body
axis. Algorithms only see arrays for their own bodies, so one written for one body works
for many. This version resolves one agent in one env with `num_envs` bodies; the mapping
shape is what several agents and envs will use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm import Algorithm
from slm_lab.env.gymnasium import GymEnv, StepResult
from slm_lab.spec.schema import Spec

Pair = tuple[int, int]  # (agent index, env index)


@dataclass(frozen=True)
class AEB:
    """Coordinates of one body: agent a embodied in env e as its b-th body."""

    a: int
    e: int
    b: int


def resolve_pairs(spec: Spec) -> list[Pair]:
    """The (agent, env) pairs of a spec: `outer` = every agent in every env, `inner` = agent i in env i."""
    n_a, n_e = len(spec.agent), len(spec.env)
    if spec.body.product == "inner":
        return [(i, i) for i in range(min(n_a, n_e))]
    return [(a, e) for a in range(n_a) for e in range(n_e)]


def body_coords(spec: Spec) -> list[AEB]:
    return [AEB(a, e, b) for a, e in resolve_pairs(spec) for b in range(spec.env[e].num_envs)]


class EnvSpace:
    """All envs of a session, stepped together."""

    def __init__(self, spec: Spec, seed: int) -> None:
        # each env gets its own seed stream so adding an env never changes another's
        self.envs = [GymEnv(env_spec, seed + 1000 * e) for e, env_spec in enumerate(spec.env)]

    def reset(self) -> dict[int, np.ndarray]:
        return {e: env.reset() for e, env in enumerate(self.envs)}

    def step(self, action_space: dict[Pair, np.ndarray]) -> dict[int, StepResult]:
        return {e: self.envs[e].step(action) for (_, e), action in action_space.items()}

    def done(self) -> bool:
        return all(env.clock.done() for env in self.envs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class AgentSpace:
    """All agents of a session, each acting on the bodies it has in each env."""

    def __init__(self, spec: Spec, env_space: EnvSpace, seed: int) -> None:
        self.pairs = resolve_pairs(spec)
        self.agents: list[Algorithm] = []
        for a, agent_spec in enumerate(spec.agent):
            e = next(e for (pa, e) in self.pairs if pa == a)
            env = env_space.envs[e]
            self.agents.append(make_agent(agent_spec, env.spaces, env.clock.max_frame, seed + 7919 * a))

    def act(self, state_space: dict[int, np.ndarray]) -> dict[Pair, np.ndarray]:
        return {(a, e): self.agents[a].act(state_space[e]) for a, e in self.pairs}

    def update(
        self,
        state_space: dict[int, np.ndarray],
        action_space: dict[Pair, np.ndarray],
        step_space: dict[int, StepResult],
        frames: dict[int, int],
    ) -> None:
        for a, e in self.pairs:
            s = step_space[e]
            self.agents[a].update(
                state_space[e], action_space[(a, e)], s.reward, s.next_state, s.terminated, s.truncated, frames[e]
            )
