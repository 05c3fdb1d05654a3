"""A trained agent outside the lab: `slm_lab.load_policy(session_dir).act(obs)` (docs/API.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib.layout import RunLayout
from slm_lab.spec.errors import SpecError


class Policy:
    """Agent 0 of a session with its saved weights and observation statistics.

    `act(obs, deterministic=True)` takes one observation, shaped like the lab env's
    `observation_space` (after the lab's own wrappers: frame stacking, Atari preprocessing),
    or a batch of them with a leading axis, and returns one action or a batch, as SB3's
    `predict` does. Observation normalization saved with the model is applied here.
    """

    def __init__(self, agent: Any, observation_space: Any, action_space: Any, normalize: Any = None) -> None:
        self.agent = agent
        self.observation_space = observation_space
        self.action_space = action_space
        self._normalize = normalize
        self.entries_space: Any = None  # the Tuple / Dict space a flat observation was made from

    @classmethod
    def load(cls, session_dir: Path, device: str | None = None) -> Policy:
        import torch

        from slm_lab.agent import make_agent
        from slm_lab.control.run import find_model
        from slm_lab.control.session import load_checkpoint
        from slm_lab.env import make_env
        from slm_lab.env import wrappers
        from slm_lab.lib import io
        from slm_lab.spec.schema import Spec

        session_dir = Path(session_dir)
        spec_file = RunLayout(session_dir.parent).spec_json if RunLayout(session_dir.parent).spec_json.is_file() else RunLayout(session_dir).spec_json
        if not spec_file.is_file():
            raise SpecError(f"load_policy: '{session_dir}' is not a session folder of a run (no spec.json beside it)")
        spec = Spec.model_validate(io.read_json(spec_file))
        state = load_checkpoint(find_model(str(session_dir)))
        env = make_env(spec.env[0], seed=0, num_envs=1, evaluation=True)
        try:
            agent = make_agent(spec.agent[0], env.spaces, spec.env[0].max_frame, seed=0)
            agent.load_state_dict(state, weights_only=True)
            if device is not None:
                agent.to(torch.device(device))
            normalize = None
            if state.get("env_norm") and hasattr(env, "load_norm_state_dict"):
                env.load_norm_state_dict(state["env_norm"])
                norm = wrappers.find_wrapper(env.venv, wrappers.NormalizeObservation)
                normalize = norm.normalize if norm is not None else None
            policy = cls(agent, env.venv.single_observation_space, env.venv.single_action_space, normalize)
            policy.entries_space = env.venv.metadata.get("obs_space")  # a Tuple / Dict env's own space
            return policy
        finally:
            env.close()

    def act(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """An action for one observation, or a batch of actions for a batch of observations.
        A Tuple / Dict env's observation may also be given as the env gives it (a dict or tuple,
        or a list of them): it is flattened as the lab's env does."""
        if self.entries_space is not None and _is_entries(obs):
            obs = self._flatten(obs)
        obs = np.asarray(obs, dtype=np.float32)
        shape = self.observation_space.shape
        single = obs.shape == tuple(shape)
        if not single and obs.shape[1:] != tuple(shape):
            raise ValueError(f"act: observation shape {obs.shape} is neither {tuple(shape)} nor a batch of it")
        batch = obs[None] if single else obs
        if self._normalize is not None:
            batch = self._normalize(batch)
        actions = self.agent.act_greedy(batch) if deterministic else self.agent.act(batch)
        actions = np.asarray(actions)
        return actions[0] if single else actions

    def _flatten(self, obs: Any) -> np.ndarray:
        import gymnasium as gym

        if isinstance(obs, (dict, tuple)):
            return gym.spaces.flatten(self.entries_space, obs)
        return np.stack([gym.spaces.flatten(self.entries_space, o) for o in obs])


def _is_entries(obs: Any) -> bool:
    """A Tuple / Dict observation as the env gives it (a dict or tuple), or a list of them."""
    return isinstance(obs, (dict, tuple)) or (isinstance(obs, list) and bool(obs) and isinstance(obs[0], (dict, tuple)))
