"""Networks and the builders for their optimizer, lr scheduler and loss."""

from slm_lab.agent.net.conv import ConvNet
from slm_lab.agent.net.mlp import MLPNet
from slm_lab.agent.net.recurrent import RecurrentNet

NETS = {"MLPNet": MLPNet, "ConvNet": ConvNet, "RecurrentNet": RecurrentNet}

__all__ = ["ConvNet", "MLPNet", "NETS", "RecurrentNet"]
