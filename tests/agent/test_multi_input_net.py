"""MultiInputNet: one encoder per entry of a Tuple / Dict observation (agent/net/encoders.py)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.net import NETS
from slm_lab.env.protocol import BodySpaces
from slm_lab.env.spaces import observation_layout
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import AgentSpec, MultiInputNetSpec

Box = gym.spaces.Box
SPEC = MultiInputNetSpec(conv_hid_layers=[[4, 3, 1]], image_features=16, vector_hid_layers=[8], hid_layers=[32])


def dict_space(channels_last: bool = True) -> gym.spaces.Dict:
    image = Box(0, 255, (6, 5, 3) if channels_last else (3, 6, 5), np.uint8)
    return gym.spaces.Dict({"image": image, "cell": gym.spaces.Discrete(4), "pos": Box(-1, 1, (2,), np.float32)})


def test_forward_keeps_leading_axes_and_concatenates_heads() -> None:
    layout = observation_layout(dict_space())
    net = NETS["MultiInputNet"](SPEC, layout, [3, 1])
    assert [type(e).__name__ for e in net.encoders] == ["VectorEncoder", "ImageEncoder", "VectorEncoder"]  # cell, image, pos
    assert net(torch.rand(5, int(layout))).shape == (5, 4)
    assert net(torch.rand(7, 5, int(layout))).shape == (7, 5, 4)  # time x bodies, from on-policy memories
    dueling = NETS["MultiInputNet"](SPEC.model_copy(update={"dueling": True}), layout, [3], atoms=5)
    assert dueling(torch.rand(2, int(layout))).shape == (2, 15)


def test_images_reach_the_conv_layers_channel_first_either_way() -> None:
    """The same picture given HWC and CHW meets the same (identically seeded) conv layers as
    the same [C, H, W] tensor: the two nets agree."""
    nets = []
    for channels_last in (True, False):
        torch.manual_seed(0)
        nets.append(NETS["MultiInputNet"](SPEC, observation_layout(dict_space(channels_last)), [3]))
    picture = np.random.default_rng(0).integers(0, 256, (6, 5, 3)).astype(np.uint8)
    obs = {"image": picture, "cell": 2, "pos": np.array([0.5, -0.5], np.float32)}
    chw = {**obs, "image": np.transpose(picture, (2, 0, 1))}
    x_hwc = torch.as_tensor(gym.spaces.flatten(dict_space(True), obs), dtype=torch.float32)[None]
    x_chw = torch.as_tensor(gym.spaces.flatten(dict_space(False), chw), dtype=torch.float32)[None]
    torch.testing.assert_close(nets[0](x_hwc), nets[1](x_chw))
    flipped = x_hwc.clone()  # and the image entry does matter
    lo = nets[0].layout.entries[1].offset
    flipped[0, lo:lo + 90] = 255 - flipped[0, lo:lo + 90]
    assert not torch.allclose(nets[0](flipped), nets[0](x_hwc))


def test_refuses_a_plain_box_observation_and_convs_that_shrink_an_image_to_nothing() -> None:
    with pytest.raises(SpecError, match="MultiInputNet needs a Tuple or Dict observation space"):
        NETS["MultiInputNet"](SPEC, 4, [2])
    big_kernel = SPEC.model_copy(update={"conv_hid_layers": [[4, 7, 1]]})
    with pytest.raises(SpecError, match="shrink observation entry 'image'"):
        NETS["MultiInputNet"](big_kernel, observation_layout(dict_space()), [2])


NET = {"type": "MultiInputNet", "conv_hid_layers": [[4, 3, 1]], "image_features": 16, "vector_hid_layers": [8], "hid_layers": [16]}
AGENTS = {
    "DQN": ({"name": "DQN", "training_start_step": 0, "training_frequency": 1}, {"name": "Replay", "batch_size": 4, "max_size": 100}, {}),
    "DuelingDQN": ({"name": "DoubleDQN", "training_start_step": 0, "training_frequency": 1}, {"name": "Replay", "batch_size": 4, "max_size": 100}, {"dueling": True}),
    "REINFORCE": ({"name": "REINFORCE", "training_frequency": 1}, {"name": "OnPolicyReplay"}, {}),
    "A2C": ({"name": "A2C", "training_frequency": 4}, {"name": "OnPolicyBatchReplay"}, {}),
    "PPO-shared": ({"name": "PPO", "training_frequency": 4, "minibatch_size": 4, "training_epoch": 1}, {"name": "OnPolicyBatchReplay"}, {"shared": True}),
    "SAC": ({"name": "SAC", "training_start_step": 0, "training_frequency": 1}, {"name": "Replay", "batch_size": 4, "max_size": 100}, {}),
}


@pytest.mark.parametrize("which", AGENTS)
def test_every_algorithm_acts_and_trains_with_it(which: str) -> None:
    algorithm, memory, net = AGENTS[which]
    spec = AgentSpec.model_validate({"algorithm": algorithm, "memory": memory, "net": {**NET, **net}})
    layout = observation_layout(dict_space())
    agent = make_agent(spec, BodySpaces(obs_dim=layout, action_dim=3, is_discrete=True, num_bodies=2), max_frame=1000, seed=0)
    nets = [m for n in agent.nets.values() for m in n.modules() if type(m).__name__ == "MultiInputNet"]
    assert nets, f"{which}: built no MultiInputNet"
    before = [[p.detach().clone() for p in n.encoders.parameters()] for n in nets]
    space = dict_space()
    space.seed(0)
    for t in range(8):
        s = np.stack([gym.spaces.flatten(space, space.sample()) for _ in range(2)]).astype(np.float32)
        action = agent.act(s)
        assert action.shape == (2,) and set(action.tolist()) <= {0, 1, 2}
        done = np.array([t == 3, False])
        agent.update(s, action, np.ones(2, np.float32), s, done, np.zeros(2, bool), frame=2 * (t + 1))
    trained = [any(not torch.equal(p, q) for p, q in zip(n.encoders.parameters(), b)) for n, b in zip(nets, before)]
    assert any(trained), f"{which}: no entry encoder was trained"


def test_nested_and_tuple_spaces_give_one_encoder_per_leaf() -> None:
    nested = gym.spaces.Dict({"arm": gym.spaces.Tuple((Box(-1, 1, (3,), np.float32), gym.spaces.MultiBinary(2))),
                              "view": dict_space(channels_last=False)})
    layout = observation_layout(nested)
    net = NETS["MultiInputNet"](SPEC.model_copy(update={"vector_hid_layers": []}), layout, [2, 1])
    assert [e.name for e in layout.entries] == ["arm/0", "arm/1", "view/cell", "view/image", "view/pos"]
    assert [enc.out_dim for enc in net.encoders] == [3, 2, 4, 16, 2]  # [] passes vectors on as they are
    x = torch.as_tensor(np.stack([gym.spaces.flatten(nested, nested.sample()) for _ in range(3)]), dtype=torch.float32)
    assert net(x).shape == (3, 3)


def test_an_agent_across_two_dict_envs_needs_the_same_entries() -> None:
    from types import SimpleNamespace

    from slm_lab.aeb import _combined_spaces

    a = observation_layout(gym.spaces.Dict({"x": Box(-1, 1, (4,), np.float32)}))
    b = observation_layout(gym.spaces.Dict({"y": gym.spaces.Discrete(4)}))
    assert a == b  # the same flat size, but not the same entries
    envs = [SimpleNamespace(spec=SimpleNamespace(name=n), spaces=BodySpaces(layout, 2, True, 1)) for n, layout in (("one", a), ("two", b))]
    assert _combined_spaces(0, [(0, [0]), (0, [0])], envs).obs_layout.entries == a.entries
    with pytest.raises(SpecError, match="one net cannot take both"):
        _combined_spaces(0, [(0, [0]), (1, [0])], envs)
