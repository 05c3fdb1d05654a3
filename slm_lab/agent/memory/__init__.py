"""Memories: where an agent keeps its bodies' experience until it learns from it."""

from slm_lab.agent.memory.onpolicy import OnPolicyBatchReplay, OnPolicyReplay
from slm_lab.agent.memory.replay import Replay

MEMORIES = {"Replay": Replay, "OnPolicyReplay": OnPolicyReplay, "OnPolicyBatchReplay": OnPolicyBatchReplay}

__all__ = ["MEMORIES", "OnPolicyBatchReplay", "OnPolicyReplay", "Replay"]
