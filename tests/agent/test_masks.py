"""Action masks: every discrete algorithm never takes a masked action, and masked entries get no gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent, masks
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.schema import AgentSpec

OBS, ACTIONS, BODIES = 4, 5, 8
SPACES = BodySpaces(obs_dim=OBS + ACTIONS, action_dim=ACTIONS, is_discrete=True, num_bodies=BODIES, action_mask=True)
ON_POLICY = {"name": "OnPolicyBatchReplay"}
REPLAY = {"name": "Replay", "batch_size": 16, "max_size": 1000}
AGENTS = {
    "DQN": ({"name": "DQN", "training_start_step": 0, "explore_var_spec": {"name": "no_decay", "start_val": 0.5}}, REPLAY),
    "DoubleDQN": ({"name": "DoubleDQN", "training_start_step": 0, "action_policy": "boltzmann",
                   "explore_var_spec": {"name": "no_decay", "start_val": 5.0}}, REPLAY),
    "SARSA": ({"name": "SARSA", "training_frequency": 4, "explore_var_spec": {"name": "no_decay", "start_val": 0.5}}, ON_POLICY),
    "REINFORCE": ({"name": "REINFORCE", "training_frequency": 1}, {"name": "OnPolicyReplay"}),
    "A2C": ({"name": "A2C", "training_frequency": 4}, ON_POLICY),
    "PPO": ({"name": "PPO", "training_frequency": 8, "minibatch_size": 16, "training_epoch": 2}, ON_POLICY),
    "SAC": ({"name": "SAC", "training_start_step": 0}, {"name": "Replay", "batch_size": 16, "max_size": 1000}),
    "Random": ({"name": "Random"}, ON_POLICY),
}


def agent(name: str, shared: bool = False):
    algorithm, memory = AGENTS[name]
    net = {"hid_layers": [16], **({"shared": True} if shared else {})}
    return make_agent(AgentSpec.model_validate({"algorithm": algorithm, "memory": memory, "net": net}), SPACES, 10_000, seed=1)


def states(rng: np.random.Generator, always_masked: int | None = None) -> np.ndarray:
    """Random observations, each with a random non-empty set of legal actions."""
    legal = rng.random((BODIES, ACTIONS)) < 0.4
    legal[np.arange(BODIES), rng.integers(0, ACTIONS, BODIES)] = True
    if always_masked is not None:
        legal[:, always_masked] = False
        legal[~legal.any(1), (always_masked + 1) % ACTIONS] = True
    return np.concatenate([rng.normal(size=(BODIES, OBS)), legal], axis=1).astype(np.float32)


@pytest.mark.parametrize("name", list(AGENTS))
def test_a_masked_action_is_never_sampled_nor_chosen_greedily(name):
    rng = np.random.default_rng(0)
    a = agent(name)
    for _ in range(150):
        s = states(rng)
        legal = s[:, OBS:] > 0.5
        for act in (a.act(s), a.act_greedy(s)):
            assert legal[np.arange(BODIES), act].all(), f"{name} took a masked action"


def head_rows(a, action: int) -> list[torch.Tensor]:
    """The output-layer rows (weights and bias) of `action` in every masked net of the agent."""
    rows = []
    for net in a.nets.values():
        for m in net.modules() if isinstance(net, torch.nn.Module) else []:
            if getattr(m, "out_dims", None) and m.out_dims[0] == ACTIONS and isinstance(m.head, torch.nn.Linear):
                rows += [m.head.weight[action].detach().clone(), m.head.bias[action].detach().clone()]
    return rows


@pytest.mark.parametrize("name,shared", [(n, False) for n in AGENTS if n != "Random"] + [("A2C", True)])
def test_masked_entries_carry_no_gradient(name, shared):
    """Action 2 is masked in every state: after real training steps, the output rows of action 2
    are exactly as initialized (no gradient ever reached them), while the others moved."""
    rng = np.random.default_rng(0)
    a = agent(name, shared)
    before, other = head_rows(a, 2), head_rows(a, 0)
    assert before
    s = states(rng, always_masked=2)
    for t in range(1, 25):
        act = a.act(s)
        s2 = states(rng, always_masked=2)
        a.update(s, act, rng.normal(size=BODIES).astype(np.float32), s2, rng.random(BODIES) < 0.1,
                 np.zeros(BODIES, bool), t * BODIES)
        s = s2
    assert a.opt_step > 0
    for b, after in zip(before, head_rows(a, 2)):
        torch.testing.assert_close(after, b, rtol=0, atol=0)
    assert any(not torch.equal(o, n) for o, n in zip(other, head_rows(a, 0)))


def test_q_targets_take_the_max_over_legal_actions_of_the_next_state():
    a = agent("DQN")
    s = np.zeros((1, OBS + ACTIONS), np.float32)
    s[0, OBS + 1] = 1.0  # only action 1 is legal
    q_all = a.target_net(torch.from_numpy(s))
    assert (q_all[0, [0, 2, 3, 4]] == masks.MASKED).all()
    assert a.next_q(torch.from_numpy(s)).item() == pytest.approx(q_all[0, 1].item())


def test_a_row_without_legal_actions_is_left_unmasked():
    s = torch.zeros((2, OBS + ACTIONS))
    s[1, OBS + 3] = 1.0
    legal = masks.legal_actions(s, ACTIONS)
    assert legal[0].all() and legal[1].tolist() == [False, False, False, True, False]
