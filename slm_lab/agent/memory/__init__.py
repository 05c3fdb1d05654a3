"""Memories: where an agent keeps its bodies' experience until it learns from it."""

from slm_lab.agent.memory.atari import AtariReplay
from slm_lab.agent.memory.onpolicy import OnPolicyBatchReplay, OnPolicyReplay
from slm_lab.agent.memory.prioritized import PrioritizedReplay
from slm_lab.agent.memory.replay import Replay
from slm_lab.plugins import Registry, declare_kind

# built-ins; a `module:Class` or registered name is resolved on lookup (slm_lab/plugins.py)
MEMORIES = Registry("memory", {
    "Replay": Replay, "OnPolicyReplay": OnPolicyReplay, "OnPolicyBatchReplay": OnPolicyBatchReplay,
    "PrioritizedReplay": PrioritizedReplay, "AtariReplay": AtariReplay,
})
declare_kind("memory", MEMORIES, (Replay, OnPolicyReplay, OnPolicyBatchReplay))

__all__ = ["MEMORIES", "AtariReplay", "OnPolicyBatchReplay", "OnPolicyReplay", "PrioritizedReplay", "Replay"]
