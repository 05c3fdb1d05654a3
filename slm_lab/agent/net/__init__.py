"""Networks and the builders for their optimizer, lr scheduler and loss."""

from slm_lab.agent.net.mlp import MLPNet

NETS = {"MLPNet": MLPNet}

__all__ = ["MLPNet", "NETS"]
