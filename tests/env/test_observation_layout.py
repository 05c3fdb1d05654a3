"""The layout of a flattened Tuple / Dict observation splits Gymnasium's flat vector back into
its entries (env/spaces.py observation_layout; MultiInputNet relies on it)."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest

from slm_lab.env.protocol import ObsLayout
from slm_lab.env.spaces import observation_layout

Box, Dict, Tuple = gym.spaces.Box, gym.spaces.Dict, gym.spaces.Tuple
ENTRIES = {
    "pos": Box(-1, 1, (3,), np.float32),
    "cell": gym.spaces.Discrete(5),
    "bits": gym.spaces.MultiBinary(4),
    "grid": Box(0, 1, (2, 3), np.float32),  # rank 2: a vector of 6, flattened
    "dials": gym.spaces.MultiDiscrete([3, 2]),
    "hwc": Box(0, 255, (8, 7, 3), np.uint8),
    "chw": Box(0, 255, (2, 8, 9), np.uint8),
}


def leaves(space: gym.Space, obs, path: str = "") -> dict:
    """Each entry's own `gym.spaces.flatten`, by path (what a layout slice must equal)."""
    if isinstance(space, Dict):
        return {k: v for key in space.spaces for k, v in leaves(space[key], obs[key], f"{path}/{key}" if path else key).items()}
    if isinstance(space, Tuple):
        return {k: v for i, s in enumerate(space.spaces) for k, v in leaves(s, obs[i], f"{path}/{i}" if path else str(i)).items()}
    return {path: gym.spaces.flatten(space, obs)}


SPACES = {
    "dict": Dict(ENTRIES),
    "tuple": Tuple(tuple(ENTRIES.values())),
    "nested": Dict({"arm": Dict({"pos": ENTRIES["pos"], "bits": ENTRIES["bits"]}),
                    "view": Tuple((ENTRIES["hwc"], ENTRIES["cell"]))}),
}


@pytest.mark.parametrize("kind", SPACES)
def test_layout_slices_equal_each_entry_flattened(kind: str) -> None:
    space = SPACES[kind]
    space.seed(0)
    layout = observation_layout(space)
    assert int(layout) == gym.spaces.flatdim(space)
    for _ in range(3):
        obs = space.sample()
        flat = gym.spaces.flatten(space, obs)
        expected = leaves(space, obs)
        assert [e.name for e in layout.entries] == list(expected)
        for e in layout.entries:
            np.testing.assert_array_equal(flat[e.offset:e.offset + e.size], expected[e.name])


def test_layout_kinds_shapes_and_channel_order() -> None:
    layout = observation_layout(SPACES["dict"])
    by_name = {e.name: e for e in layout.entries}
    assert sorted(by_name) == [e.name for e in layout.entries]  # Dict keys in sorted order, as flatten
    assert {n: e.kind for n, e in by_name.items()} == {"bits": "vector", "cell": "vector", "chw": "image", "dials": "vector",
                                                      "grid": "vector", "hwc": "image", "pos": "vector"}
    assert by_name["grid"].size == 6 and by_name["dials"].size == 5
    assert by_name["hwc"].channels_last and not by_name["chw"].channels_last
    assert by_name["cell"].size == 5 and by_name["hwc"].shape == (8, 7, 3) and by_name["hwc"].scale == pytest.approx(1 / 255)
    assert by_name["pos"].scale == 1.0
    assert [e.name for e in observation_layout(SPACES["nested"]).entries] == ["arm/bits", "arm/pos", "view/0", "view/1"]


def test_layout_is_an_int_that_survives_pickle_and_copy() -> None:
    layout = observation_layout(SPACES["tuple"])
    assert isinstance(layout, int) and layout == gym.spaces.flatdim(SPACES["tuple"]) and np.prod(layout) == int(layout)
    for clone in (pickle.loads(pickle.dumps(layout)), copy.deepcopy(layout)):
        assert isinstance(clone, ObsLayout) and clone.entries == layout.entries and clone == layout


def test_dict_env_hands_its_layout_to_the_agent_and_a_box_env_does_not() -> None:
    from slm_lab.env import make_env
    from slm_lab.spec.schema import EnvSpec

    env = make_env(EnvSpec(name="multi_input_envs:ColourFlipEnv", num_envs=2), seed=0)
    layout = env.spaces.obs_layout
    assert layout is not None and [e.name for e in layout.entries] == ["image", "shift"]
    obs = env.reset()
    assert obs.shape == (2, int(layout)) and obs.dtype == np.float32
    image = obs[:, :layout.entries[0].size].reshape(2, 6, 6, 3)
    assert ((image.max(axis=(1, 2)) == 255).sum(1) == 1).all()  # one colour plane lit, pixels as they were
    assert (obs[:, layout.entries[1].offset:].sum(1) == 1).all()  # the Discrete entry one-hot
    env.close()
    cartpole = make_env(EnvSpec(name="CartPole-v1", num_envs=1), seed=0)
    assert cartpole.spaces.obs_layout is None
    cartpole.close()
