"""Gymnasium adapter: one env of the AEB space, a vector env whose sub-envs are its bodies.

Autoreset is SAME_STEP, so the step that ends an episode hands back the true final
observation (for bootstrapping on truncation) while the returned state is already the
next episode's first. `terminated` and `truncated` stay separate all the way out.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from slm_lab.env.clock import Clock
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec


@dataclass(frozen=True)
class BodySpaces:
    """What an agent must know of its bodies in one env to build its nets."""

    obs_dim: int
    action_dim: int  # number of discrete actions, or size of a continuous action
    is_discrete: bool
    num_bodies: int
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None


@dataclass
class StepResult:
    """One vector step. `next_state` is what an agent stores as s' (the final obs on done);
    `state` is what it acts on next (the reset obs on done)."""

    state: np.ndarray
    next_state: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


def _env_id(name: str) -> str:
    """Register a `module:Class` entry point under a lab id; Gymnasium ids pass through."""
    if ":" in name and name not in gym.envs.registry:
        env_id = f"slm_lab/{name.replace(':', '.')}-v0"
        if env_id not in gym.envs.registry:
            gym.register(id=env_id, entry_point=name)
        return env_id
    if name.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    return name


def make_vector_env(spec: EnvSpec, num_envs: int) -> gym.vector.VectorEnv:
    kwargs = dict(spec.kwargs)
    if spec.max_t is not None:
        kwargs["max_episode_steps"] = spec.max_t
    try:
        return gym.make_vec(
            _env_id(spec.name),
            num_envs=num_envs,
            vectorization_mode=spec.vectorization,
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            **kwargs,
        )
    except (gym.error.Error, ImportError, AttributeError, TypeError, ValueError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SpecError(f"env '{spec.name}' could not be made: {first_line}") from None


class GymEnv:
    """A Gymnasium vector env with per-body episode returns and its own clock."""

    def __init__(self, spec: EnvSpec, seed: int, num_envs: int | None = None) -> None:
        self.spec = spec
        self.num_bodies = num_envs or spec.num_envs
        self.venv = make_vector_env(spec, self.num_bodies)
        self.seed = seed
        self.clock = Clock(spec.max_frame)
        obs_space = self.venv.single_observation_space
        act_space = self.venv.single_action_space
        if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
            raise SpecError(f"env '{spec.name}': observation space {obs_space} is not a flat Box (MLPNet needs a vector)")
        if isinstance(act_space, gym.spaces.Discrete):
            self.spaces = BodySpaces(int(obs_space.shape[0]), int(act_space.n), True, self.num_bodies)
        elif isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
            self.spaces = BodySpaces(
                int(obs_space.shape[0]), int(act_space.shape[0]), False, self.num_bodies,
                act_space.low.astype(np.float32), act_space.high.astype(np.float32),
            )
        else:
            raise SpecError(f"env '{spec.name}': action space {act_space} is not Discrete or a flat Box")
        self.body_returns = np.zeros(self.num_bodies, dtype=np.float64)
        self.body_lengths = np.zeros(self.num_bodies, dtype=np.int64)
        # (body, return, length) of every finished episode since the last drain
        self.finished: list[tuple[int, float, int]] = []

    def reset(self) -> np.ndarray:
        obs, _ = self.venv.reset(seed=self.seed)
        self.venv.action_space.seed(self.seed)
        self.body_returns[:] = 0.0
        self.body_lengths[:] = 0
        return obs.astype(np.float32, copy=False)

    def step(self, action: np.ndarray) -> StepResult:
        if not self.spaces.is_discrete:
            action = np.clip(action, self.spaces.action_low, self.spaces.action_high)
        obs, reward, terminated, truncated, info = self.venv.step(action)
        obs = obs.astype(np.float32, copy=False)
        reward = np.asarray(reward, dtype=np.float32)
        done = terminated | truncated
        next_state = obs
        self.body_returns += reward
        self.body_lengths += 1
        n_done = int(done.sum())
        if n_done:
            next_state = obs.copy()
            for b in np.flatnonzero(done):  # only on episode ends: rare, not per step
                next_state[b] = info["final_obs"][b]
                self.finished.append((int(b), float(self.body_returns[b]), int(self.body_lengths[b])))
            self.body_returns[done] = 0.0
            self.body_lengths[done] = 0
        self.clock.tick(self.num_bodies, n_done)
        return StepResult(obs, next_state, reward, terminated, truncated)

    def drain_finished(self) -> list[tuple[int, float, int]]:
        out, self.finished = self.finished, []
        return out

    def close(self) -> None:
        self.venv.close()
