"""Networks and the builders for their optimizer, lr scheduler and loss."""

from torch import nn

from slm_lab.agent.net.conv import ConvNet
from slm_lab.agent.net.encoders import MultiInputNet
from slm_lab.agent.net.mlp import MLPNet
from slm_lab.agent.net.recurrent import RecurrentNet
from slm_lab.agent.net.stateful_recurrent import StatefulRecurrentNet
from slm_lab.plugins import Registry, declare_kind

# built-ins; a `module:Class` or registered name is resolved on lookup (slm_lab/plugins.py)
NETS = Registry("net", {"MLPNet": MLPNet, "ConvNet": ConvNet, "MultiInputNet": MultiInputNet, "RecurrentNet": RecurrentNet, "StatefulRecurrentNet": StatefulRecurrentNet})
declare_kind("net", NETS, (nn.Module,))

__all__ = ["ConvNet", "MLPNet", "MultiInputNet", "NETS", "RecurrentNet", "StatefulRecurrentNet"]
