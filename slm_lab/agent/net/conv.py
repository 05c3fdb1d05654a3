"""ConvNet: convolutional layers over image observations, then fully connected layers and heads."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from slm_lab.agent.net.builders import conv_layers, fc_layers, init_conv_orthogonal, init_layers
from slm_lab.agent.net.mlp import build_head, obs_shape
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import ConvNetSpec


class ConvNet(nn.Module):
    """Conv layers `[out_channels, kernel, stride]`, flatten, fc layers, then the heads.

    The default is the Nature DQN stack (Mnih et al. 2015): 32 8x8/4, 64 4x4/2, 64 3x3/1, fc 512.
    Input is [..., C, H, W] (C = stacked frames); uint8 pixels are scaled by 1/255 here, so
    observations stay uint8 (4x smaller than float32) through the env and the replay memory.
    Any leading axes (bodies, or time x bodies from on-policy memories) are kept.
    """

    def __init__(self, spec: ConvNetSpec, in_dim: int | Sequence[int], out_dims: list[int], log_std_dim: int = 0) -> None:
        super().__init__()
        self.in_shape = obs_shape(in_dim)
        if len(self.in_shape) != 3:
            raise SpecError(f"ConvNet takes image observations [channels, height, width], not shape {self.in_shape}: use net.type MLPNet")
        try:
            self.conv, dim = conv_layers(self.in_shape, spec.conv_hid_layers, spec.hid_layers_activation)
        except ValueError:
            raise SpecError(f"net.conv_hid_layers {spec.conv_hid_layers} shrink an image of shape {self.in_shape} to nothing") from None
        self.fc, dim = fc_layers(dim, spec.fc_hid_layers, spec.hid_layers_activation)
        self.out_dims = list(out_dims)
        self.head = build_head(dim, out_dims, spec.dueling)
        init_layers(self, spec.init_fn, spec.hid_layers_activation)
        if spec.init_fn == "orthogonal":
            init_conv_orthogonal(self.conv)
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None
        self.bf16 = spec.bf16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        x = x.reshape(math.prod(lead), *self.in_shape)
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        # bf16 autocast: matmuls and convs in bfloat16 (tensor cores); losses see float32 outputs
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.head(self.fc(self.conv(x)))
        return out.float().reshape(*lead, out.shape[-1])
