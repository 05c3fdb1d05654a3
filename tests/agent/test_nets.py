"""Nets: dueling aggregation, ConvNet on stacked uint8 frames, RecurrentNet over observation windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.net import NETS, ConvNet, MLPNet, RecurrentNet
from slm_lab.agent.net.mlp import DuelingHead
from slm_lab.env.gymnasium import BodySpaces
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import validate
from slm_lab.spec.schema import AgentSpec, ConvNetSpec, MLPNetSpec, RecurrentNetSpec


def test_dueling_head_aggregates_value_and_mean_centred_advantage():
    head = DuelingHead(2, 3)
    with torch.no_grad():
        head.value.weight.copy_(torch.tensor([[1.0, 0.0]]))
        head.value.bias.fill_(0.5)
        head.advantage.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        head.advantage.bias.zero_()
    h = torch.tensor([[2.0, 4.0]])
    # V = 2 + 0.5 = 2.5; A = [2, 4, 6], mean 4 -> Q = 2.5 + [-2, 0, 2]
    torch.testing.assert_close(head(h), torch.tensor([[0.5, 2.5, 4.5]]))


@pytest.mark.parametrize("net_type,in_dim", [("MLPNet", 4), ("ConvNet", (4, 84, 84)), ("RecurrentNet", (4, 3))])
def test_dueling_option_builds_a_dueling_head_for_every_net(net_type, in_dim):
    spec = {"MLPNet": MLPNetSpec, "ConvNet": ConvNetSpec, "RecurrentNet": RecurrentNetSpec}[net_type](dueling=True)
    net = NETS[net_type](spec, in_dim, [5])
    assert isinstance(net.head, DuelingHead)
    x = torch.zeros(2, *(in_dim if isinstance(in_dim, tuple) else (in_dim,)))
    q = net(x)
    assert q.shape == (2, 5)
    # V is the mean of Q over actions by construction
    torch.testing.assert_close(q.mean(-1, keepdim=True), net.head.value(net_features(net, x)))


def net_features(net, x):
    if isinstance(net, MLPNet):
        return net.body(x)
    if isinstance(net, ConvNet):
        return net.fc(net.conv(x.float()))
    out, _ = net.rnn(net.fc(x))
    return out[:, -1]


def test_dueling_needs_one_q_head_and_a_q_learning_algorithm():
    with pytest.raises(SpecError, match="one Q head"):
        MLPNet(MLPNetSpec(dueling=True), 4, [2, 1])
    with pytest.raises(SpecError, match="dueling needs a Q-learning algorithm"):
        validate({"agent": [{"algorithm": {"name": "A2C"}, "memory": {"name": "OnPolicyBatchReplay"}, "net": {"dueling": True}}],
                  "env": [{"name": "CartPole-v1"}]})


def test_convnet_on_stacked_uint8_frames():
    net = ConvNet(ConvNetSpec(), (4, 84, 84), [6])
    # Nature DQN: 84 -> 20 -> 9 -> 7, so 64 * 7 * 7 features into fc 512
    assert net.fc[0].in_features == 64 * 7 * 7 and net.fc[0].out_features == 512
    frames = torch.randint(0, 256, (5, 4, 84, 84), dtype=torch.uint8)
    q = net(frames)
    assert q.shape == (5, 6) and q.dtype == torch.float32
    # uint8 is scaled by 1/255 inside the net: the same as feeding floats in [0, 1]
    torch.testing.assert_close(q, net(frames.float() / 255.0))
    # leading axes are kept (time x bodies from on-policy memories) and a single obs works too
    assert net(frames.reshape(1, 5, 4, 84, 84)).shape == (1, 5, 6)
    assert net(frames[0]).shape == (6,)


def test_convnet_custom_layers_and_shape_errors():
    net = ConvNet(ConvNetSpec(conv_hid_layers=[[8, 4, 2]], fc_hid_layers=[16, 16]), (2, 10, 10), [3, 1])
    assert net(torch.zeros(7, 2, 10, 10)).shape == (7, 4)
    with pytest.raises(SpecError, match="shrink"):
        ConvNet(ConvNetSpec(), (4, 20, 20), [2])
    with pytest.raises(SpecError, match="image observations"):
        ConvNet(ConvNetSpec(), 4, [2])


def test_mlpnet_refuses_images_and_flattens_stacked_vectors():
    with pytest.raises(SpecError, match="use net.type ConvNet"):
        MLPNet(MLPNetSpec(), (4, 84, 84), [6])
    net = MLPNet(MLPNetSpec(hid_layers=[8]), (3, 4), [2])
    assert net.body[0].in_features == 12
    assert net(torch.zeros(5, 3, 4)).shape == (5, 2)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_recurrent_net_shapes(cell):
    net = RecurrentNet(RecurrentNetSpec(cell_type=cell, fc_hid_layers=[16], rnn_hidden_size=12), (6, 3), [2, 1])
    assert isinstance(net.rnn, torch.nn.GRU if cell == "GRU" else torch.nn.LSTM)
    assert net(torch.zeros(5, 6, 3)).shape == (5, 3)
    assert net(torch.zeros(7, 5, 6, 3)).shape == (7, 5, 3)  # [T, B, k, d] from on-policy memories
    with pytest.raises(SpecError, match="frame_stack"):
        RecurrentNet(RecurrentNetSpec(), 3, [2])


@pytest.fixture
def one_thread():
    # tiny nets: extra threads only add sync cost on a shared machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("cell", ["GRU", "LSTM"])
def test_recurrent_net_learns_to_recall_the_first_step_of_its_window(cell, one_thread):
    """A memory task no feedforward view of the last step can solve: output the sign of the
    window's first observation, with noise in between."""
    torch.manual_seed(0)
    net = RecurrentNet(RecurrentNetSpec(cell_type=cell, fc_hid_layers=[16], rnn_hidden_size=32), (5, 2), [2])
    optim = torch.optim.Adam(net.parameters(), lr=0.01)
    x = torch.randn(256, 5, 2)
    label = (x[:, 0, 0] > 0).long()
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(net(x), label)
        optim.zero_grad()
        loss.backward()
        optim.step()
    x_test = torch.randn(256, 5, 2)
    acc = (net(x_test).argmax(-1) == (x_test[:, 0, 0] > 0).long()).float().mean().item()
    assert acc > 0.9, f"{cell} recalled the first step with accuracy {acc:.2f}"


@pytest.mark.parametrize("algo,memory", [("REINFORCE", "OnPolicyReplay"), ("A2C", "OnPolicyBatchReplay")])
def test_recurrent_net_plugs_into_on_policy_algorithms(algo, memory):
    spec = AgentSpec.model_validate({
        "algorithm": {"name": algo, "training_frequency": 3}, "memory": {"name": memory},
        "net": {"type": "RecurrentNet", "fc_hid_layers": [8], "rnn_hidden_size": 8},
    })
    agent = make_agent(spec, BodySpaces(obs_dim=(4, 3), action_dim=2, is_discrete=True, num_bodies=2), max_frame=100, seed=0)
    rng = np.random.default_rng(0)
    before = [p.detach().clone() for p in agent.net.parameters()]
    state = rng.normal(size=(2, 4, 3)).astype(np.float32)
    for t in range(6):
        action = agent.act(state)
        assert action.shape == (2,)
        nxt = rng.normal(size=(2, 4, 3)).astype(np.float32)
        done = np.array([t % 2 == 1, t % 3 == 2])
        agent.update(state, action, np.ones(2, np.float32), nxt, done, np.zeros(2, bool), frame=2 * (t + 1))
        state = nxt
    assert agent.opt_step > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.net.parameters()))


def test_a2c_with_a_gru_over_frame_stacks_learns_cartpole(tmp_path):
    """End to end: env.frame_stack feeds RecurrentNet windows through a Session (random: about 22)."""
    import pandas as pd

    from slm_lab.control.session import Session

    spec = validate({
        "name": "learn_a2c_gru",
        "agent": [{"algorithm": {"name": "A2C", "lam": 0.95, "training_frequency": 32},
                   "memory": {"name": "OnPolicyBatchReplay"},
                   "net": {"type": "RecurrentNet", "cell_type": "GRU", "fc_hid_layers": [64], "rnn_hidden_size": 64,
                           "hid_layers_activation": "tanh", "clip_grad_val": 0.5, "optim_spec": {"name": "Adam", "lr": 0.002}}}],
        "env": [{"name": "CartPole-v1", "num_envs": 8, "max_frame": 24000, "frame_stack": 4}],
        "meta": {"max_session": 1, "log_frequency": 2000, "eval_frequency": 8000, "eval_episodes": 2, "seed": 1},
    })
    Session(spec, tmp_path).run()
    final_ma = pd.read_csv(tmp_path / "train.csv")["return_ma"].iloc[-1]
    assert final_ma > 3 * 22.0, f"training return_ma {final_ma:.1f} is not clearly above random"


def test_clip_grad_norms_matches_torch_clip_per_list():
    from slm_lab.agent.net.builders import clip_grad_norms

    torch.manual_seed(0)
    nets = [torch.nn.Linear(4, 8), torch.nn.Linear(8, 2), torch.nn.Linear(3, 1)]
    scales = [3.0, 0.01, 5.0]  # the second list is under the bound and must be left as it is
    grads = [[torch.randn_like(p) * s for p in net.parameters()] for net, s in zip(nets, scales)]
    expected = []
    for net, gs in zip(nets, grads):
        for p, g in zip(net.parameters(), gs):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.5)
        expected.append([p.grad.clone() for p in net.parameters()])
    for net, gs in zip(nets, grads):
        for p, g in zip(net.parameters(), gs):
            p.grad = g.clone()
    clip_grad_norms([list(net.parameters()) for net in nets], 0.5)
    for net, exp, gs in zip(nets, expected, grads):
        for p, e in zip(net.parameters(), exp):
            torch.testing.assert_close(p.grad, e)
    torch.testing.assert_close(next(nets[1].parameters()).grad, grads[1][0])
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in nets[0].parameters()]))
    assert total == pytest.approx(0.5, rel=1e-4)


@pytest.mark.parametrize("algo,shared", [("A2C", False), ("PPO", True), ("REINFORCE", False)])
def test_policy_init_gain_starts_near_a_uniform_policy(algo, shared):
    def agent_with(gain):
        raw = {
            "name": algo, "algorithm": {"name": algo},
            "memory": {"name": "OnPolicyBatchReplay" if algo != "REINFORCE" else "OnPolicyReplay"},
            "net": {"type": "MLPNet", "hid_layers": [32], "hid_layers_activation": "tanh", "shared": shared,
                    **({"policy_init_gain": gain} if gain is not None else {})},
        }
        torch.manual_seed(0)
        return make_agent(AgentSpec.model_validate(raw), BodySpaces(4, 3, True, 1), 1000, 0)

    states = torch.randn(256, 4) * 2
    default, small = agent_with(None), agent_with(0.01)
    with torch.no_grad():
        spread = lambda agent: agent.policy_out(states).std(-1).mean().item()  # noqa: E731
        assert spread(small) < 0.02 < spread(default)
        if shared:  # the value output keeps its init
            torch.testing.assert_close(small.net.head.weight[-1], default.net.head.weight[-1])


def test_policy_init_gain_is_refused_for_value_based_algorithms():
    raw = {"name": "DQN", "algorithm": {"name": "DQN"}, "memory": {"name": "Replay"},
           "net": {"type": "MLPNet", "policy_init_gain": 0.01}}
    with pytest.raises(ValueError, match="policy_init_gain applies to policy-gradient algorithms"):
        make_agent(AgentSpec.model_validate(raw), BodySpaces(4, 2, True, 1), 1000, 0)
