"""Atari through ale-py's own vector env (`env.vectorization: "ale"`): many emulators stepped by
C++ threads, with the standard preprocessing done there too (no-op reset up to 30, frame skip 4
with max-pooling, grey 84x84, frame stack; Mnih et al. 2015, Machado et al. 2018).

It hands back uint8 frame stacks [num_envs, k, 84, 84] like the Gymnasium wrapper path, with
SAME_STEP autoreset and `info["final_obs"]`, so the adapter cannot tell the two apart. Reward
clipping stays in the lab's vector wrappers (so reported returns remain the game's own), and the
episodic-life signal is read from the emulators' life counts.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorWrapper

from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

FRAME_SKIP = 4
V5_STICKY_ACTIONS = 0.25  # ALE/*-v5's repeat_action_probability, kept so both paths play the same game


def rom_name(env_name: str) -> str:
    """`ALE/SpaceInvaders-v5` -> `space_invaders` (ale-py's ROM id)."""
    match = re.fullmatch(r"ALE/([A-Za-z0-9]+)-v\d+", env_name)
    if not match:
        raise SpecError(f"env '{env_name}': vectorization 'ale' needs an ALE/<Game>-v5 id")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()


class VectorEpisodicLife(VectorWrapper):
    """`info["life_loss"]` (with its `_life_loss` mask) where a sub-env lost a life without its
    game ending; the adapter ends the agent's episode there, as EpisodicLife does per sub-env."""

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.lives = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.lives = np.asarray(info["lives"], dtype=np.int64).copy()
        return obs, info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        lives = np.asarray(info["lives"], dtype=np.int64)
        done = terminated | truncated
        info["life_loss"] = (lives < self.lives) & (lives > 0) & ~done
        info["_life_loss"] = np.ones(self.num_envs, dtype=bool)
        self.lives = lives.copy()
        return obs, reward, terminated, truncated, info


def make_ale_vector_env(spec: EnvSpec, num_envs: int, evaluation: bool = False) -> gym.vector.VectorEnv:
    from ale_py.vector_env import AtariVectorEnv

    known = set(inspect.signature(AtariVectorEnv.__init__).parameters) - {"self", "game", "num_envs"}
    unknown = sorted(set(spec.kwargs) - known)
    if unknown:
        raise SpecError(f"env '{spec.name}': kwargs {', '.join(unknown)} are not options of ale-py's vector env")
    options: dict[str, Any] = {
        "repeat_action_probability": V5_STICKY_ACTIONS, "frameskip": FRAME_SKIP, "noop_max": 30,
        "img_height": 84, "img_width": 84, "grayscale": True, "stack_num": spec.stack_size(),
        "reward_clipping": False,  # the lab clips in its wrappers and reports the raw return
        "episodic_life": False, "use_fire_reset": False,
        "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP,
    }
    if spec.max_t is not None:  # emulator frames, as on the Gymnasium path (docs/SPEC.md)
        options["max_num_frames_per_episode"] = spec.max_t
    options.update(spec.kwargs)
    venv: gym.vector.VectorEnv = AtariVectorEnv(rom_name(spec.name), num_envs, **options)
    if spec.episodic_life and not evaluation:
        venv = VectorEpisodicLife(venv)
    return venv
