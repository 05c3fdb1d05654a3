"""Observation and reward processing for the Gymnasium adapter, built from Gymnasium's wrappers.

Two layers:
- per sub-env (inside the vector env, so a reset restarts them): Atari preprocessing
  (gymnasium.wrappers.AtariPreprocessing: no-op reset, frame skip 4 with max-pooling, grey
  84x84; Mnih et al. 2015, Machado et al. 2018), an episodic-life signal, and frame stacking
  (gymnasium.wrappers.FrameStackObservation).
- on the vector env: reward clipping (gymnasium.wrappers.vector.ClipReward) and running
  reward normalization (gymnasium.wrappers.vector.NormalizeReward), with the raw reward kept
  in `info` so reported returns are always the game's own; and running observation
  normalization.

Observation normalization is `NormalizeObservation` below rather than Gymnasium's vector
one: Gymnasium's refuses vector envs whose autoreset mode is SAME_STEP (it would leave the
final observation in `info` unnormalized), and the lab needs SAME_STEP to bootstrap from the
true final observation of a truncated episode. It keeps Gymnasium's RunningMeanStd and
formula and also normalizes `info["final_obs"]`.
"""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.wrappers.utils import RunningMeanStd

from slm_lab.spec.schema import BATCHED_ENV_IDS, EnvSpec

REWARD_NORM_GAMMA = 0.99  # discount of the return whose running std scales rewards


class EpisodicLife(gym.Wrapper):
    """Marks a lost life with `info["life_loss"] = True`, without ending the game.

    The adapter treats it as `terminated` for the agent only (no bootstrapping past a lost
    life, as in Mnih et al. 2015), while episodes, returns and resets follow the real game.
    Gymnasium's `terminal_on_life_loss` would instead reset the whole game at every lost life.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        info["life_loss"] = bool(0 < lives < self.lives) and not (terminated or truncated)
        self.lives = lives
        return obs, reward, terminated, truncated, info


def sub_env_wrappers(spec: EnvSpec, evaluation: bool = False) -> list[Callable[[gym.Env], gym.Env]]:
    """Wrappers applied to each sub-env, innermost first."""
    wrappers: list[Callable[[gym.Env], gym.Env]] = []
    # action masks first: later wrappers see the flat observation (the batched CartPole has none)
    if spec.action_mask == "info" or (spec.action_mask == "auto" and spec.name not in BATCHED_ENV_IDS):
        from slm_lab.env.action_mask import mask_wrapper

        wrappers.append(mask_wrapper(spec.action_mask))
    if spec.is_atari():
        wrappers.append(lambda env: gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True))
        if spec.episodic_life and not evaluation:
            wrappers.append(EpisodicLife)
    stack = spec.stack_size()
    if stack > 1:
        wrappers.append(lambda env: gym.wrappers.FrameStackObservation(env, stack))
    return wrappers


def make_kwargs(spec: EnvSpec) -> dict[str, Any]:
    """Env kwargs: AtariPreprocessing does the frame skip, so the ALE env must not skip too."""
    kwargs: dict[str, Any] = dict(spec.kwargs)
    if spec.is_atari():
        kwargs.setdefault("frameskip", 1)
    return kwargs


class KeepRawReward(VectorWrapper):
    """Copies the env's own rewards into `info["raw_reward"]` before outer wrappers change them."""

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        info["raw_reward"] = np.asarray(reward, dtype=np.float64).copy()
        return obs, reward, terminated, truncated, info


class NormalizeObservation(VectorWrapper):
    """(obs - running mean) / sqrt(running var + eps), for SAME_STEP vector envs.

    Statistics update on the observations handed out (step and reset) while
    `update_running_mean` is True. An eval env shares a training env's `obs_rms` with updates
    off, so both see observations scaled the same way and evaluation never moves the stats.
    """

    def __init__(self, env: VectorEnv, epsilon: float = 1e-8) -> None:
        super().__init__(env)
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, self.env.single_observation_space.shape, np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.obs_rms = RunningMeanStd(shape=self.single_observation_space.shape)
        self.epsilon = epsilon
        self.update_running_mean = True

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)).astype(np.float32)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        if self.update_running_mean:
            self.obs_rms.update(obs)
        return self.normalize(obs), info

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        if self.update_running_mean:
            self.obs_rms.update(obs)
        if "final_obs" in info:  # the true last observations of finished episodes, for bootstrapping
            final = info["final_obs"].copy()
            for b in np.flatnonzero(info["_final_obs"]):
                final[b] = self.normalize(final[b])
            info["final_obs"] = final
        return self.normalize(obs), reward, terminated, truncated, info


def wrap_vector_env(venv: VectorEnv, spec: EnvSpec, evaluation: bool = False) -> VectorEnv:
    """Reward clipping / normalization (training only: evaluation reports raw returns anyway
    and must not move the statistics) and observation normalization."""
    clip = spec.clip_reward if spec.clip_reward is not None else spec.is_atari()
    if not evaluation and (clip or spec.normalize_reward):
        venv = KeepRawReward(venv)
        if clip:
            venv = gym.wrappers.vector.ClipReward(venv, -1.0, 1.0)
        if spec.normalize_reward:
            venv = gym.wrappers.vector.NormalizeReward(venv, gamma=REWARD_NORM_GAMMA)
    if spec.normalize_obs:
        venv = NormalizeObservation(venv)
        venv.update_running_mean = not evaluation
    return venv


def find_wrapper(venv: VectorEnv, cls: type) -> Any:
    """The wrapper of type `cls` in a vector env's stack, or None."""
    while isinstance(venv, VectorWrapper):
        if isinstance(venv, cls):
            return venv
        venv = venv.env
    return None


def _rms_state(rms: RunningMeanStd) -> dict[str, Any]:
    import torch

    return {"mean": torch.as_tensor(np.asarray(rms.mean, dtype=np.float64)),
            "var": torch.as_tensor(np.asarray(rms.var, dtype=np.float64)), "count": float(rms.count)}


def _load_rms(rms: RunningMeanStd, state: dict[str, Any]) -> None:
    rms.mean = np.asarray(state["mean"], dtype=np.float64).copy()
    rms.var = np.asarray(state["var"], dtype=np.float64).copy()
    rms.count = float(state["count"])


def norm_state_dict(venv: VectorEnv) -> dict[str, Any]:
    """Running statistics of the normalization wrappers as tensors (checkpoints load with
    weights_only): `obs` (NormalizeObservation's obs_rms), `reward` (NormalizeReward's
    return_rms, plus each sub-env's discounted return so far, which its next update uses)."""
    import torch

    state: dict[str, Any] = {}
    obs_norm = find_wrapper(venv, NormalizeObservation)
    if obs_norm is not None:
        state["obs"] = _rms_state(obs_norm.obs_rms)
    reward_norm = find_wrapper(venv, gym.wrappers.vector.NormalizeReward)
    if reward_norm is not None:
        state["reward"] = {**_rms_state(reward_norm.return_rms),
                           "accumulated": torch.as_tensor(np.asarray(reward_norm.accumulated_reward, dtype=np.float64))}
    return state


def load_norm_state_dict(venv: VectorEnv, state: dict[str, Any]) -> None:
    obs_norm = find_wrapper(venv, NormalizeObservation)
    if obs_norm is not None and "obs" in state:
        _load_rms(obs_norm.obs_rms, state["obs"])
    reward_norm = find_wrapper(venv, gym.wrappers.vector.NormalizeReward)
    if reward_norm is not None and "reward" in state:
        _load_rms(reward_norm.return_rms, state["reward"])
        # the same-size env (a training env) takes its running returns back; an eval env has none
        accumulated = state["reward"].get("accumulated")
        if accumulated is not None and len(accumulated) == len(reward_norm.accumulated_reward):
            reward_norm.accumulated_reward[:] = np.asarray(accumulated, dtype=np.float32)
