"""Networks and the builders for their optimizer, lr scheduler and loss."""

from slm_lab.agent.net.conv import ConvNet
from slm_lab.agent.net.mlp import MLPNet
from slm_lab.agent.net.recurrent import RecurrentNet
from slm_lab.plugins import Registry

# built-ins; a `module:Class` or registered name is resolved on lookup (slm_lab/plugins.py)
NETS = Registry("net", {"MLPNet": MLPNet, "ConvNet": ConvNet, "RecurrentNet": RecurrentNet})

__all__ = ["ConvNet", "MLPNet", "NETS", "RecurrentNet"]
