"""Networks and the builders for their optimizer, lr scheduler and loss."""

from slm_lab.agent.net.conv import ConvNet
from slm_lab.agent.net.mlp import MLPNet
from slm_lab.agent.net.recurrent import RecurrentNet
from slm_lab.agent.net.stateful_recurrent import StatefulRecurrentNet

NETS = {"MLPNet": MLPNet, "ConvNet": ConvNet, "RecurrentNet": RecurrentNet, "StatefulRecurrentNet": StatefulRecurrentNet}

__all__ = ["ConvNet", "MLPNet", "NETS", "RecurrentNet", "StatefulRecurrentNet"]
