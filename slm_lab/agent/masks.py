"""Action masks: legal actions that travel with the state, honoured by every discrete algorithm.

An env with action masks (a PettingZoo classic game, a Gymnasium env giving
`info["action_mask"]` or a Dict observation with an `action_mask` entry) appends the mask of
its `action_dim` actions (1 legal, 0 illegal) to each flat observation, and its BodySpaces
says `action_mask=True`. So the mask goes wherever a state goes: into `act` / `act_greedy`,
into the memory with the state and with the next state (a Q target's max over s' sees the
mask of s'), and into every net as an input feature.

`install(agent)` hooks each of the agent's nets whose first output head has one entry per
action (Q-values or policy logits; a value head is left alone): the entries of illegal
actions are replaced by MASKED, a large negative number, with `torch.where`. Consequences,
with no change to any algorithm's loss:
- softmax gives them probability 0: never sampled, no entropy, log-prob terms 0;
- argmax and max (greedy acting, DQN / Double DQN targets) never pick them;
- `torch.where` passes no gradient to the masked entries of the net's output.
Epsilon-greedy's random branch draws among legal actions (policy.epsilon_greedy).

A row with no legal action (a turn-based game's waiting player, or a finished game's last
observation) is left unmasked: its action is ignored by the env and, on a terminal next
state, its value is multiplied by zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

MASKED = -1e9  # finite: 0 * MASKED is 0 where -inf would give NaN in entropies and soft values
_LEGAL_THRESHOLD = MASKED / 2


def legal_actions(states: torch.Tensor, action_dim: int) -> torch.Tensor:
    """Bool [..., action_dim]: the mask carried in the last columns of the states; a row with
    no legal action counts as all legal."""
    legal = states[..., -action_dim:] > 0.5
    return legal | ~legal.any(-1, keepdim=True)


def mask_output(out: torch.Tensor, states: torch.Tensor, action_dim: int) -> torch.Tensor:
    """The net's output with its first `action_dim` columns set to MASKED where illegal."""
    legal = legal_actions(states, action_dim)
    head = torch.where(legal, out[..., :action_dim], torch.full_like(out[..., :action_dim], MASKED))
    return head if out.shape[-1] == action_dim else torch.cat([head, out[..., action_dim:]], dim=-1)


def install(agent: Any) -> int:
    """Mask the action outputs of every net of `agent` (a forward hook, so checkpoints, target
    copies and optimizers are unchanged). Returns the number of nets hooked."""
    action_dim = agent.spaces.action_dim
    hooked: set[int] = set()
    for net in agent.nets.values():
        if not isinstance(net, torch.nn.Module):
            continue
        for module in net.modules():
            out_dims = getattr(module, "out_dims", None)
            if out_dims and out_dims[0] == action_dim and id(module) not in hooked:
                module.register_forward_hook(lambda _m, inputs, out: mask_output(out, inputs[0], action_dim))
                hooked.add(id(module))
    return len(hooked)


def uniform_legal(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal action per row of a bool mask (a row with none: any action)."""
    legal = legal | ~legal.any(-1, keepdims=True)
    # the argmax of uniform draws over the legal entries is a uniform legal action
    return np.where(legal, rng.random(legal.shape), -1.0).argmax(-1)


def is_masked(scores: torch.Tensor) -> bool:
    """Whether some entry of these Q-values / logits was masked."""
    return bool((scores <= _LEGAL_THRESHOLD).any())


def random_legal(scores: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random legal action per row of masked scores (epsilon-greedy's random branch)."""
    return uniform_legal((scores > _LEGAL_THRESHOLD).numpy(), rng)


def random_legal_from_states(states: np.ndarray, action_dim: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform legal actions read from the mask columns of numpy states (the Random player)."""
    return uniform_legal(np.asarray(states)[..., -action_dim:] > 0.5, rng)
