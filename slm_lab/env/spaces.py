"""Observation spaces the nets take, from any Gymnasium observation space.

The nets take a Box of vectors, stacked vectors [k, d] or images [C, H, W]. Other spaces are
encoded once, at the vector env, with Gymnasium's own flattening (`gym.spaces.flatten`):
- Discrete(n): a one-hot vector of n; MultiDiscrete(nvec): the one-hots concatenated;
  MultiBinary(n): the n bits as floats;
- Tuple / Dict: every entry flattened this way and concatenated into one float32 vector, in
  Gymnasium's order (Tuple entries in order, Dict keys sorted, nested spaces depth first). The
  env also hands on an `ObsLayout` (env/protocol.py) naming each entry's place in that vector,
  its shape and kind: a Box of rank 3 is an image, everything else a vector. MLPNet reads the
  whole vector (one MLP over all entries); `net.type: "MultiInputNet"` (agent/net/encoders.py)
  splits it back and gives each entry its own encoder, a ConvNet for images and an MLP for
  vectors, concatenated before the shared layers (SB3's MultiInputPolicy).
Images: a Box of rank 3 is channel-first [C, H, W] unless its last axis looks like channels
and its first does not (last <= 4 < first, as SB3's `is_image_space_channels_first`
decides); then it is transposed from [H, W, C] to [C, H, W] here, before the ConvNet (inside
a Tuple / Dict, MultiInputNet transposes it).

Actions (`action_kind`): Discrete (one integer per body), a flat Box (a float vector), and for
the policy-gradient algorithms MultiDiscrete(nvec) (one integer per dim, a factorized
categorical over sum(nvec) logits) and MultiBinary(n) (n bits, a factorized Bernoulli over n
logits), both as [bodies, dims] integer arrays (agent/distributions.py). Which algorithm takes
which kind is spec/schema_algorithm.py's ALGORITHM_ACTIONS; a MultiDiscrete must be flat and
start at 0, a MultiBinary flat.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from slm_lab.env.protocol import ObsEntry, ObsLayout
from slm_lab.spec.errors import SpecError

FLATTENED = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary, gym.spaces.Tuple, gym.spaces.Dict)
ACTIONS = "Discrete, a flat Box, a flat MultiDiscrete starting at 0, or a flat MultiBinary"


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """[H, W, C] rather than [C, H, W]: the last axis is small (<= 4 channels), the first is not."""
    return len(shape) == 3 and shape[-1] <= 4 < shape[0]


def describe_unsupported(space: gym.Space) -> str | None:
    """Why the lab cannot take observations from `space`, or None when it can."""
    if isinstance(space, gym.spaces.Box):
        return None if 1 <= len(space.shape) <= 3 else f"a Box of rank {len(space.shape)} (vectors, [k, d] or images only)"
    if isinstance(space, (gym.spaces.Tuple, gym.spaces.Dict)):
        parts = list(space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces)
        if not parts:
            return f"an empty {type(space).__name__}"
        bad = [r for r in (describe_unsupported(s) for s in parts) if r]
        return bad[0] if bad else None
    if isinstance(space, FLATTENED):
        return None
    return f"{type(space).__name__} (supported: Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict)"


def observation_wrappers(space: gym.Space, name: str) -> list:
    """Per-env wrappers giving observations the nets take (see the module docstring); [] for a
    Box the nets take as it is."""
    reason = describe_unsupported(space)
    if reason is not None:
        raise SpecError(f"env '{name}': observation space {space} is not supported: {reason}")
    if isinstance(space, FLATTENED):
        flat = [gym.wrappers.FlattenObservation, lambda env: gym.wrappers.DtypeObservation(env, np.float32)]
        if isinstance(space, (gym.spaces.Tuple, gym.spaces.Dict)):
            layout = observation_layout(space)
            flat.append(lambda env: WithLayout(env, layout, space))
        return flat
    if is_channels_last(space.shape):
        chw = gym.spaces.Box(np.transpose(space.low, (2, 0, 1)), np.transpose(space.high, (2, 0, 1)), dtype=space.dtype)
        return [lambda env: gym.wrappers.TransformObservation(env, _to_chw, chw)]
    return []


def observation_layout(space: gym.spaces.Tuple | gym.spaces.Dict) -> ObsLayout:
    """Where each entry of `space` lies in `gym.spaces.flatten(space, obs)`: the same walk as
    Gymnasium's flatten (Tuple in order, Dict keys in the space's sorted order, depth first)."""
    entries: list[ObsEntry] = []
    for name, sub in _leaves(space, ""):
        offset = entries[-1].offset + entries[-1].size if entries else 0
        size = int(gym.spaces.flatdim(sub))
        if isinstance(sub, gym.spaces.Box) and len(sub.shape) == 3:
            shape = tuple(int(d) for d in sub.shape)
            scale = 1.0 / 255.0 if sub.dtype == np.uint8 else 1.0
            entries.append(ObsEntry(name, "image", offset, size, shape, is_channels_last(shape), scale))
        else:
            entries.append(ObsEntry(name, "vector", offset, size, (size,)))
    return ObsLayout(entries)


def _leaves(space: gym.Space, path: str) -> list[tuple[str, gym.Space]]:
    """The non-composite entries of `space` with their paths ("a/0/b"), in flatten order."""
    if isinstance(space, gym.spaces.Dict):
        items = list(space.spaces.items())
    elif isinstance(space, gym.spaces.Tuple):
        items = [(str(i), s) for i, s in enumerate(space.spaces)]
    else:
        return [(path, space)]
    return [leaf for key, sub in items for leaf in _leaves(sub, f"{path}/{key}" if path else str(key))]


class WithLayout(gym.Wrapper):
    """Hands the layout of a flattened Tuple / Dict observation, and the space it came from, on
    through `metadata` (the vector env copies its first sub-env's metadata; GymEnv, `slm-lab
    check` and `load_policy` read them there)."""

    def __init__(self, env: gym.Env, layout: ObsLayout, space: gym.Space) -> None:
        super().__init__(env)
        self.metadata = {**env.metadata, "obs_layout": layout, "obs_space": space}


def check_multi_input(layout: ObsLayout | None, net: Any, name: str) -> None:
    """MultiInputNet needs a Tuple / Dict observation (a `layout`) whose images survive the
    net's conv layers; pure arithmetic, so `slm-lab check` refuses before torch is imported."""
    if layout is None:
        raise SpecError(f"env '{name}': net.type MultiInputNet needs a Tuple or Dict observation space "
                        "(an action-mask Dict is read as observation + mask): use MLPNet or ConvNet")
    for entry in layout.entries:
        if entry.kind != "image":
            continue
        h, w = entry.shape[:2] if entry.channels_last else entry.shape[1:]
        for _, kernel, stride in net.conv_hid_layers:
            h, w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
        if h < 1 or w < 1:
            raise SpecError(f"env '{name}': net.conv_hid_layers {net.conv_hid_layers} shrink observation entry "
                            f"'{entry.name}' of shape {list(entry.shape)} to nothing: use smaller kernels or strides")


def _to_chw(obs: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(obs, (2, 0, 1)))


def action_kind(space: gym.Space, name: str) -> str:
    """'discrete', 'continuous', 'multi_discrete' or 'multi_binary'; SpecError for any other space."""
    check_action_space(space, name)
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.MultiDiscrete):
        return "multi_discrete"
    return "multi_binary" if isinstance(space, gym.spaces.MultiBinary) else "continuous"


def check_action_space(space: gym.Space, name: str) -> None:
    """SpecError naming the space unless its actions can be taken (see the module docstring)."""
    if isinstance(space, gym.spaces.Discrete) or (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        return
    if isinstance(space, gym.spaces.MultiDiscrete) and len(space.shape) == 1 and not np.any(space.start):
        return
    if isinstance(space, gym.spaces.MultiBinary) and len(space.shape) == 1:
        return
    shown = " ".join(str(space).split())  # one line: a 2-D MultiDiscrete prints over several
    raise SpecError(f"env '{name}': action space {shown} is not supported ({ACTIONS})")


def action_space_fields(space: gym.Space, name: str) -> dict:
    """The action part of an env's BodySpaces (env/protocol.py) for a supported `space`."""
    kind = action_kind(space, name)
    if kind == "discrete":
        return {"action_dim": int(space.n), "is_discrete": True}
    if kind == "continuous":
        return {"action_dim": int(space.shape[0]), "is_discrete": False,
                "action_low": space.low.astype(np.float32), "action_high": space.high.astype(np.float32)}
    if kind == "multi_discrete":
        return {"action_dim": len(space.nvec), "is_discrete": False, "action_nvec": tuple(int(n) for n in space.nvec)}
    return {"action_dim": int(space.n), "is_discrete": False, "action_binary": True}
