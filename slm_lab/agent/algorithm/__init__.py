"""Algorithms, built from the spec by name through this explicit registry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slm_lab.agent.algorithm.actor_critic import A2C
from slm_lab.agent.algorithm.base import Algorithm, require_action_kind
from slm_lab.agent.algorithm.crossq import CrossQ
from slm_lab.agent.algorithm.dqn import DQN, DoubleDQN
from slm_lab.agent.algorithm.off_policy import OffPolicy
from slm_lab.agent.algorithm.ppo import PPO
from slm_lab.agent.algorithm.random_policy import RandomPolicy
from slm_lab.agent.algorithm.recurrent_ppo import RecurrentPPO
from slm_lab.agent.algorithm.reinforce import Reinforce
from slm_lab.agent.algorithm.sac import SAC
from slm_lab.agent.algorithm.sarsa import SARSA
from slm_lab.agent.algorithm.snapshot import SnapshotPlayer
from slm_lab.agent.algorithm.td3 import DDPG, TD3
from slm_lab.plugins import Registry, declare_kind
from slm_lab.spec.plugin_schema import family

if TYPE_CHECKING:
    from slm_lab.spec.schema import Spec

# built-ins; a `module:Class` or registered name is resolved on lookup (slm_lab/plugins.py)
ALGORITHMS: dict[str, type[Algorithm]] = Registry("algorithm", {
    "REINFORCE": Reinforce, "DQN": DQN, "DoubleDQN": DoubleDQN, "A2C": A2C, "SARSA": SARSA, "PPO": PPO, "RecurrentPPO": RecurrentPPO, "SAC": SAC,
    "TD3": TD3, "DDPG": DDPG, "CrossQ": CrossQ,
    "Random": RandomPolicy,
    "Snapshot": SnapshotPlayer,
})
declare_kind("algorithm", ALGORITHMS, (Algorithm,))


def check_action_spaces(spec: Spec) -> None:
    """Before a run: every agent's algorithm can act in the action space of each Gymnasium env it is
    paired with, else a SpecError naming both. Other env kinds are checked when their agents are built."""
    import gymnasium as gym

    from slm_lab.env.gymnasium import make_vector_env
    from slm_lab.env.protocol import BodySpaces
    from slm_lab.env.spaces import action_space_fields
    from slm_lab.spec.aeb_check import pairs

    for e, env_spec in enumerate(spec.env):
        agents = sorted({a for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom) if pe == e})
        if not agents or env_spec.has_own_bodies:
            continue  # their spaces are known once the env starts; the agent build checks them then
        if env_spec.kind == "gymnasium" and env_spec.name not in gym.envs.registry:
            continue
        venv = make_vector_env(env_spec, 1)
        try:
            spaces = BodySpaces(obs_dim=0, num_bodies=1, **action_space_fields(venv.single_action_space, env_spec.name))
        finally:
            venv.close()
        for a in agents:
            algo = spec.agent[a].algorithm
            require_action_kind(algo.name, spaces, f"env '{env_spec.name}'", family(algo) or algo.name)


__all__ = ["ALGORITHMS", "A2C", "Algorithm", "DQN", "DoubleDQN", "OffPolicy", "PPO", "RandomPolicy", "RecurrentPPO", "Reinforce",
           "SAC", "SARSA", "SnapshotPlayer", "TD3", "DDPG", "CrossQ", "check_action_spaces"]
