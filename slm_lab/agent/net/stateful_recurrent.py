"""StatefulRecurrentNet: a GRU or LSTM whose hidden state the algorithm carries from step to step.

Unlike RecurrentNet (net/recurrent.py), which rebuilds its state from a window of stacked
frames on every call, this net remembers as far back as the episode goes, so its caller owns
the state: it carries it through the rollout, resets it where an episode starts, stores it
for training, and unrolls the net over sequences from a stored state (agent/algorithm/
recurrent_ppo.py). The interface is explicit:

- `initial_state(n)`: zeros, [n, state_size];
- `forward(x, state, episode_starts)`: x [L, N, ...] time-major, state [N, state_size],
  episode_starts [L, N] in {0, 1}; before step t the carried state is multiplied by
  (1 - episode_starts[t]), so an episode that begins inside the sequence starts from zeros.
  The RNN runs once per stretch of steps without an episode start. Returns (out [L, N, sum(out_dims)], the state after the last step).

The state is one flat tensor per body, [h] for a GRU and [h, c] for an LSTM over all
layers, so memories store it and masks scale it without knowing the cell.
Cells: GRU (Cho et al. 2014) or LSTM (Hochreiter & Schmidhuber 1997).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from slm_lab.agent.net.builders import fc_layers, init_layers
from slm_lab.agent.net.mlp import build_head, obs_shape
from slm_lab.agent.net.recurrent import CELLS
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import StatefulRecurrentNetSpec


class StatefulRecurrentNet(nn.Module):
    """fc layers per step -> GRU/LSTM carried across steps -> heads (one linear layer for all).

    Vector observations, flat or stacked [k, d] (flattened per step). `log_std_dim` adds a
    state-independent log standard deviation for Gaussian policies, as in MLPNet.
    """

    def __init__(self, spec: StatefulRecurrentNetSpec, in_dim: int | Sequence[int], out_dims: list[int], log_std_dim: int = 0) -> None:
        super().__init__()
        shape = obs_shape(in_dim)
        if len(shape) > 2:
            raise SpecError(f"StatefulRecurrentNet takes vector observations, not images of shape {shape}")
        self.in_ndim = len(shape)
        dim = math.prod(shape)
        self.fc, dim = fc_layers(dim, spec.fc_hid_layers, spec.hid_layers_activation)
        self.is_lstm = spec.cell_type == "LSTM"
        self.num_layers, self.hidden_size = spec.rnn_num_layers, spec.rnn_hidden_size
        self.rnn = CELLS[spec.cell_type](dim, spec.rnn_hidden_size, num_layers=spec.rnn_num_layers)
        self.state_size = (2 if self.is_lstm else 1) * self.num_layers * self.hidden_size
        self.out_dims = list(out_dims)
        self.head = build_head(spec.rnn_hidden_size, out_dims, False)
        init_layers(self, spec.init_fn, spec.hid_layers_activation)  # Linear layers; the RNN keeps torch's init
        self.log_std = nn.Parameter(torch.zeros(log_std_dim)) if log_std_dim else None

    def initial_state(self, n: int) -> torch.Tensor:
        return torch.zeros(n, self.state_size, device=self.head.weight.device)

    def _cell_state(self, state: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """[N, state_size] -> torch's [layers, N, hidden] (a pair (h, c) for an LSTM)."""
        parts = state.reshape(state.shape[0], -1, self.num_layers, self.hidden_size).permute(1, 2, 0, 3).contiguous()
        return (parts[0], parts[1]) if self.is_lstm else parts[0]

    def _flat_state(self, cell: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        parts = torch.stack(cell) if self.is_lstm else cell[None]  # [1 or 2, layers, N, hidden]
        return parts.permute(2, 0, 1, 3).reshape(parts.shape[2], self.state_size)

    def forward(self, x: torch.Tensor, state: torch.Tensor, episode_starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = x.shape[0]
        if self.in_ndim > 1:
            x = x.flatten(-self.in_ndim)
        features = self.fc(x.float())  # every step at once: only the recurrence needs the loop
        keep = 1.0 - episode_starts.float()
        # one RNN call per run of steps in which no body starts an episode (besides the run's
        # first step, masked before the call): a step loop only where resets happen
        cuts = [0, *(torch.nonzero(keep[1:].min(dim=1).values < 1.0).flatten() + 1).tolist(), steps]
        outputs = []
        for start, end in zip(cuts[:-1], cuts[1:]):
            out, cell = self.rnn(features[start:end], self._cell_state(state * keep[start].unsqueeze(-1)))
            state = self._flat_state(cell)
            outputs.append(out)
        return self.head(torch.cat(outputs)), state
