"""Algorithms, built from the spec by name through this explicit registry."""

from slm_lab.agent.algorithm.actor_critic import A2C
from slm_lab.agent.algorithm.base import Algorithm
from slm_lab.agent.algorithm.dqn import DQN, DoubleDQN
from slm_lab.agent.algorithm.reinforce import Reinforce

ALGORITHMS: dict[str, type[Algorithm]] = {"REINFORCE": Reinforce, "DQN": DQN, "DoubleDQN": DoubleDQN, "A2C": A2C}

__all__ = ["ALGORITHMS", "A2C", "Algorithm", "DQN", "DoubleDQN", "Reinforce"]
