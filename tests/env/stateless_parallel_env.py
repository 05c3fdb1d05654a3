"""A test-only PettingZoo parallel env with no global state (no `state_space`): a centralized
critic asking for `critic_input: "state"` on it must be refused. Its name in a spec is
`pettingzoo:tests.env.stateless_parallel_env` (the repository root is on sys.path under pytest)."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class TwoWalkers(ParallelEnv):
    """Two agents, a 2-number observation each, 2 actions, episodes of 5 steps."""

    metadata = {"name": "two_walkers_v0"}

    def __init__(self) -> None:
        self.possible_agents = ["walker_0", "walker_1"]
        self.agents = list(self.possible_agents)
        self.t = 0

    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), np.float32)

    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(2)

    def _obs(self) -> dict:
        return {a: np.full(2, self.t / 5, dtype=np.float32) for a in self.possible_agents}

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        over = self.t >= 5
        rewards = {a: float(actions[a]) for a in self.agents}
        return (self._obs(), rewards, {a: False for a in self.agents}, {a: over for a in self.agents},
                {a: {} for a in self.agents})


def parallel_env(**kwargs) -> TwoWalkers:
    return TwoWalkers(**kwargs)
