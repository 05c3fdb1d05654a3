"""MultiInputNet: one encoder per entry of a Tuple / Dict observation, then shared layers and heads.

The env gives such observations as one flat float32 vector (Gymnasium's flatten) and an
`ObsLayout` saying where each entry lies in it (env/spaces.py), so memories and algorithms see
a plain vector; only this net splits it back. The design follows Stable-Baselines3's
MultiInputPolicy / CombinedExtractor: a small ConvNet with a linear projection for each image,
an MLP (or nothing) for each vector, the features concatenated.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from slm_lab.agent.net.builders import ACTIVATIONS, conv_layers, fc_layers, init_conv_orthogonal, init_layers
from slm_lab.agent.net.mlp import build_head
from slm_lab.env.protocol import ObsEntry, ObsLayout
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import MultiInputNetSpec


def chw_shape(entry: ObsEntry) -> tuple[int, int, int]:
    """An image entry's shape as the conv layers take it, [C, H, W]."""
    h, w, c = entry.shape if entry.channels_last else (entry.shape[1], entry.shape[2], entry.shape[0])
    return c, h, w


class ImageEncoder(nn.Module):
    """Conv layers over one image entry, flattened, then a linear layer of `features` units."""

    def __init__(self, entry: ObsEntry, spec: MultiInputNetSpec) -> None:
        super().__init__()
        self.entry, self.chw = entry, chw_shape(entry)
        try:
            self.conv, dim = conv_layers(self.chw, spec.conv_hid_layers, spec.hid_layers_activation)
        except ValueError:
            raise SpecError(f"net.conv_hid_layers {spec.conv_hid_layers} shrink observation entry '{entry.name}' "
                            f"of shape {list(entry.shape)} to nothing") from None
        self.project = nn.Sequential(nn.Linear(dim, spec.image_features), ACTIVATIONS[spec.hid_layers_activation]())
        self.out_dim = spec.image_features

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        """`flat` is this entry's slice, [batch, size]."""
        x = flat.reshape(flat.shape[0], *self.entry.shape) * self.entry.scale
        if self.entry.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.project(self.conv(x))


class VectorEncoder(nn.Module):
    """An MLP over one vector entry (identity when `vector_hid_layers` is empty)."""

    def __init__(self, entry: ObsEntry, spec: MultiInputNetSpec) -> None:
        super().__init__()
        self.mlp, self.out_dim = fc_layers(entry.size, spec.vector_hid_layers, spec.hid_layers_activation)

    def forward(self, flat: torch.Tensor) -> torch.Tensor:
        return self.mlp(flat)


class MultiInputNet(nn.Module):
    """Splits a flattened Tuple / Dict observation into its entries, encodes each (a ConvNet for
    images, an MLP for vectors), concatenates, then `hid_layers` and one linear head per entry of
    `out_dims` (concatenated on the last axis, as MLPNet does: shared actor-critic nets work).

    `atoms` > 1 makes a distributional Q head; `net.dueling` a dueling one.
    Any leading axes (bodies, or time x bodies from on-policy memories) are kept.
    """

    def __init__(self, spec: MultiInputNetSpec, in_dim: int | Sequence[int], out_dims: list[int], log_std_dim: int = 0,
                 atoms: int = 1) -> None:
        super().__init__()
        if not isinstance(in_dim, ObsLayout):
            raise SpecError(f"net.type MultiInputNet needs a Tuple or Dict observation space, not observations of "
                            f"shape {in_dim}: use MLPNet or ConvNet")
        self.layout = in_dim
        self.slices = [(e.offset, e.offset + e.size) for e in in_dim.entries]
        self.encoders = nn.ModuleList(
            ImageEncoder(e, spec) if e.kind == "image" else VectorEncoder(e, spec) for e in in_dim.entries)
        self.body, dim = fc_layers(sum(enc.out_dim for enc in self.encoders), spec.hid_layers, spec.hid_layers_activation)
        self.out_dims = [d * atoms for d in out_dims]
        self.head = build_head(dim, out_dims, spec.dueling, atoms)
        init_layers(self, spec.init_fn, spec.hid_layers_activation)
        if spec.init_fn == "orthogonal":
            init_conv_orthogonal(self)
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last shared layer's activations (what the heads read)."""
        lead = x.shape[:-1]
        x = x.reshape(math.prod(lead), x.shape[-1]).float()
        encoded = [enc(x[:, lo:hi]) for enc, (lo, hi) in zip(self.encoders, self.slices)]
        h = self.body(torch.cat(encoded, dim=-1))
        return h.reshape(*lead, h.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
