"""RecurrentNet: a GRU or LSTM over a window of each body's most recent observations.

Design. The env stacks each body's last k observations (`env.frame_stack: k`, Gymnasium's
FrameStackObservation), so an observation is a sequence [k, obs_dim]. The net embeds every
step with fc layers, runs the RNN over the window from a zero state, and feeds the last
output to the heads. The hidden state is rebuilt from the window on every call, so:

- there is no hidden state to carry between env steps, store in a memory, or reset at an
  episode boundary (the env restarts the window when an episode resets);
- any algorithm uses it unchanged: observations [B, k, d] when acting and [T, B, k, d] from
  on-policy memories batch like any other (REINFORCE, A2C, PPO, ... need no recurrent code);
- what it can remember is the window: k steps, which is also its truncated-BPTT horizon.
  The cost is k RNN steps per observation, small for the vector envs it is meant for.

Cells: GRU (Cho et al. 2014) or LSTM (Hochreiter & Schmidhuber 1997).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from slm_lab.agent.net.builders import fc_layers, init_layers
from slm_lab.agent.net.mlp import build_head, obs_shape
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import RecurrentNetSpec

CELLS: dict[str, type[nn.RNNBase]] = {"GRU": nn.GRU, "LSTM": nn.LSTM}


class RecurrentNet(nn.Module):
    """fc layers per step -> GRU/LSTM over the k-step window -> last output -> heads.

    Input [..., k, d]: any leading axes are kept. `log_std_dim` adds a state-independent
    log standard deviation for Gaussian policies, as in MLPNet.
    """

    def __init__(self, spec: RecurrentNetSpec, in_dim: int | Sequence[int], out_dims: list[int], log_std_dim: int = 0) -> None:
        super().__init__()
        shape = obs_shape(in_dim)
        if len(shape) != 2:
            raise SpecError(
                f"RecurrentNet needs sequences of vector observations [steps, size], not shape {shape}: "
                "set env.frame_stack (e.g. 4) to the sequence length"
            )
        self.seq_len, dim = shape
        self.fc, dim = fc_layers(dim, spec.fc_hid_layers, spec.hid_layers_activation)
        self.rnn = CELLS[spec.cell_type](dim, spec.rnn_hidden_size, num_layers=spec.rnn_num_layers, batch_first=True)
        self.out_dims = list(out_dims)
        self.head = build_head(spec.rnn_hidden_size, out_dims, spec.dueling)
        init_layers(self, spec.init_fn, spec.hid_layers_activation)  # Linear layers; the RNN keeps torch's init
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-2]
        x = x.reshape(math.prod(lead), *x.shape[-2:]).float()
        out, _ = self.rnn(self.fc(x))  # [N, k, hidden], from a zero initial state
        y = self.head(out[:, -1])
        return y.reshape(*lead, y.shape[-1])
