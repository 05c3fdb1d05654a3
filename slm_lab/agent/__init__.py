"""Agents: algorithm + memory + nets. Never imports control/ or analysis/."""

from slm_lab.agent.algorithm import ALGORITHMS, Algorithm
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


def make_agent(spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> Algorithm:
    """Build the agent's algorithm (which owns its memory and nets) from the spec."""
    agent = ALGORITHMS[spec.algorithm.name](spec, spaces, max_frame, seed)
    if spaces.action_mask:  # illegal actions are never taken and carry no gradient
        from slm_lab.agent import masks

        masks.install(agent)
    return agent


__all__ = ["make_agent"]
