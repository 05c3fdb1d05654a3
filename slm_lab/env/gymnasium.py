"""Gymnasium adapter: one env of the AEB space, a vector env whose sub-envs are its bodies.

Autoreset is SAME_STEP, so the step that ends an episode hands back the true final
observation (for bootstrapping on truncation) while the returned state is already the
next episode's first. `terminated` and `truncated` stay separate all the way out.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np

import slm_lab.env.memory_tasks  # noqa: F401  (registers the lab's slm_lab/... memory-task ids)
import slm_lab.env.wrappers as wrappers
from slm_lab.env.batched import BATCHED_ENVS, make_batched
from slm_lab.env.clock import Clock
from slm_lab.env.protocol import BodySpaces, Episode, EpisodeTracker, StepResult  # noqa: F401  (BodySpaces, StepResult: their old home)
from slm_lab.env.snapshot import load_vector_env_state, vector_env_state
from slm_lab.env.spaces import action_space_fields, observation_wrappers
from slm_lab.lib.seeding import derive_seed
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec


def is_module_env_id(name: str) -> bool:
    """`minigrid:MiniGrid-Empty-5x5-v0` (a module, then a registered id) rather than `module:Class`."""
    return bool(re.fullmatch(r"[\w.]+:[\w./-]+-v\d+", name)) and not name.partition(":")[2].isidentifier()


def env_id(name: str) -> str:
    """Register a `module:Class` entry point under a lab id; Gymnasium ids pass through."""
    if ":" in name and name not in gym.envs.registry and is_module_env_id(name):
        module, _, registered = name.partition(":")  # Gymnasium's module:EnvId: importing registers it
        import importlib

        importlib.import_module(module)
        return registered
    if ":" in name and name not in gym.envs.registry:
        env_id = f"slm_lab/{name.replace(':', '.')}-v0"
        if env_id not in gym.envs.registry:
            gym.register(id=env_id, entry_point=name)
        return env_id
    if name.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    return name


def make_vector_env(spec: EnvSpec, num_envs: int, evaluation: bool = False) -> gym.vector.VectorEnv:
    """The vector env with the spec's processing (env/wrappers.py); `evaluation` leaves out
    what only training wants (reward clipping / normalization, episodic life)."""
    if spec.vectorization == "ale":  # the preprocessing runs in ale-py's C++ threads
        from slm_lab.env.ale_vector import make_ale_vector_env

        return wrappers.wrap_vector_env(make_ale_vector_env(spec, num_envs, evaluation), spec, evaluation)
    kwargs = wrappers.make_kwargs(spec)
    sub_wrappers = wrappers.sub_env_wrappers(spec, evaluation)
    if spec.vectorization == "batched" or (spec.vectorization == "auto" and spec.name in BATCHED_ENVS and not sub_wrappers):
        try:
            venv = make_batched(spec.name, num_envs, spec.max_t, kwargs)
        except TypeError as e:  # an unknown env kwarg
            raise SpecError(f"env '{spec.name}' could not be made: {e}") from None
        return wrappers.wrap_vector_env(venv, spec, evaluation)
    if spec.max_t is not None:
        kwargs["max_episode_steps"] = spec.max_t
    try:
        venv = _make_vec(spec, num_envs, sub_wrappers, kwargs)
        # spaces the nets do not take as they are: made again, encoded in each env (env/spaces.py)
        if encoders := observation_wrappers(venv.single_observation_space, spec.name):
            venv.close()
            venv = _make_vec(spec, num_envs, sub_wrappers + encoders, kwargs)
        return wrappers.wrap_vector_env(venv, spec, evaluation)
    except (gym.error.Error, ImportError, AttributeError, TypeError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(f"env '{spec.name}' could not be made: {first_line}") from None


def _make_vec(spec: EnvSpec, num_envs: int, sub_wrappers: list, kwargs: dict) -> gym.vector.VectorEnv:
    return gym.make_vec(
        env_id(spec.name),
        num_envs=num_envs,
        vectorization_mode="async" if spec.vectorization == "async" else "sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        wrappers=sub_wrappers,
        **kwargs,
    )


class GymEnv:
    """A Gymnasium vector env with per-body episode returns and its own clock."""

    def __init__(
        self, spec: EnvSpec, seed: int, num_envs: int | None = None, evaluation: bool = False, train_env: GymEnv | None = None
    ) -> None:
        """`evaluation`: raw rewards, whole games, frozen observation statistics, shared with
        `train_env` when given (else load them with `load_norm_state_dict`)."""
        self.spec = spec
        self.num_bodies = num_envs or spec.num_envs
        self.venv = make_vector_env(spec, self.num_bodies, evaluation or train_env is not None)
        if train_env is not None:
            train_norm = wrappers.find_wrapper(train_env.venv, wrappers.NormalizeObservation)
            eval_norm = wrappers.find_wrapper(self.venv, wrappers.NormalizeObservation)
            if train_norm is not None and eval_norm is not None:
                eval_norm.obs_rms = train_norm.obs_rms  # same object: always the latest training stats
        self.seed = seed
        self.clock = Clock(spec.max_frame)
        obs_space = self.venv.single_observation_space
        act_space = self.venv.single_action_space
        if not isinstance(obs_space, gym.spaces.Box) or not 1 <= len(obs_space.shape) <= 3:
            raise SpecError(
                f"env '{spec.name}': observation space {obs_space} is not a Box of vectors, stacked vectors or images"
            )
        shape = tuple(int(d) for d in obs_space.shape)
        obs_dim = shape[0] if len(shape) == 1 else shape
        layout = self.venv.metadata.get("obs_layout")  # a flattened Tuple / Dict (env/spaces.py)
        if layout is not None and shape == (int(layout),):  # not when frame_stack reshaped it
            obs_dim = layout
        # images stay uint8 until the net (4x less memory in replay); vectors become float32
        self.obs_dtype = np.uint8 if obs_space.dtype == np.uint8 and len(shape) == 3 else np.float32
        masked = bool(self.venv.metadata.get("action_mask"))  # env/action_mask.py appended the legal actions
        if masked and spec.normalize_obs:
            raise SpecError(f"env '{spec.name}': normalize_obs would rescale the action mask carried in the observation")
        self.spaces = BodySpaces(obs_dim=obs_dim, num_bodies=self.num_bodies, action_mask=masked,
                                 **action_space_fields(act_space, spec.name))
        self.episodes = EpisodeTracker(self.num_bodies)

    def reset(self) -> np.ndarray:
        obs, _ = self.venv.reset(seed=self.seed)
        self.venv.action_space.seed(self.seed)
        self.episodes.restart()
        return obs.astype(self.obs_dtype, copy=False)

    def step(self, action: np.ndarray) -> StepResult:
        if self.spaces.action_low is not None:  # a Box: integer actions are in their space by construction
            action = np.clip(action, self.spaces.action_low, self.spaces.action_high)
        obs, reward, terminated, truncated, info = self.venv.step(action)
        obs = obs.astype(self.obs_dtype, copy=False)
        # returns are the game's own; the agent learns from the clipped / normalized reward
        raw_reward = info.get("raw_reward", reward)
        reward = np.asarray(reward, dtype=np.float32)
        done = terminated | truncated
        next_state = obs
        self.episodes.add(raw_reward)
        n_done = self.episodes.end(done)
        if n_done:
            next_state = obs.copy()
            for b in np.flatnonzero(done):  # only on episode ends: rare, not per step
                next_state[b] = info["final_obs"][b]
        self.clock.tick(self.num_bodies, n_done)
        if "life_loss" in info:  # episodic life: the agent's episode ends with a life, the game goes on
            terminated = terminated | (info["life_loss"] & info["_life_loss"])
        return StepResult(obs, next_state, reward, terminated, truncated)

    def norm_state_dict(self) -> dict:
        """Observation / reward normalization statistics (empty without normalization)."""
        return wrappers.norm_state_dict(self.venv)

    def state_dict(self) -> dict[str, Any]:
        """The clock, the episodes under way and finished-but-unlogged, the normalizers and,
        where it can be captured (env/snapshot.py), the simulation itself under "sim"."""
        state: dict[str, Any] = {**self.clock.state_dict(), **self.episodes.state_dict(), "norm": self.norm_state_dict()}
        sim = vector_env_state(self.venv)
        if sim is not None:
            state["sim"] = sim
        return state

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore what `state_dict` saved. True: the simulation is back too, so the env goes
        on without a reset. False: the caller must reset it; the seed is moved on so that the
        reset does not replay the run's first episodes."""
        self.clock.load_state_dict(state)
        self.episodes.load_state_dict(state, running="sim" in state)
        if state.get("norm"):
            self.load_norm_state_dict(state["norm"])
        if "sim" not in state:
            self.seed = derive_seed(self.seed, self.clock.frame, 1)
            return False
        load_vector_env_state(self.venv, state["sim"])
        return True

    def load_norm_state_dict(self, state: dict) -> None:
        wrappers.load_norm_state_dict(self.venv, state)

    def drain_finished(self) -> list[Episode]:
        return self.episodes.drain()

    def close(self) -> None:
        self.venv.close()
