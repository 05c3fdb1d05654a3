"""The simulation state of a Gymnasium vector env, as explicit data, for exact resume.

A checkpoint must load with `torch.load(weights_only=True)`, so an env is never pickled:
its state is read out as plain numbers (tensors, ints, JSON strings) and written back into a
freshly made env of the same spec. What is captured, per sub-env, from the inside out:

- the base env: classic-control envs' `state` array (and CartPole's `steps_beyond_terminated`);
  MuJoCo envs' `qpos`, `qvel` and simulation time (through `set_state`); ALE games' emulator state;
- the env's `np_random` generator (its bit generator's state as JSON);
- the wrappers `gym.make` and the lab add: TimeLimit's step count, FrameStackObservation's
  queue; OrderEnforcing and PassiveEnvChecker only need to know a reset happened.

The numpy-batched CartPole (env/batched.py) is captured as a whole (its state matrix, step
counts and generator). An ALE game without sticky actions (`repeat_action_probability`
0) is saved as the emulator's own serialized state (`cloneState(include_rng=True)`, bytes in a
uint8 tensor) with AtariPreprocessing's frame buffers and life count; with sticky actions (v5's
default 0.25) it cannot be exact, since the action a sticky step repeats is not in that state. Anything else (an async vector env, ale-py's native vector env, an unknown
wrapper or a user's env without a `state` array) gives None: that env cannot be saved, and a resumed run
resets it with a fresh seed instead (control/checkpoint.py says so once).
"""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import numpy as np

from slm_lab.env.batched import SameStepCartPole
from slm_lab.env.wrappers import EpisodicLife

State = dict[str, Any]
# wrappers with nothing to save once the env has been reset (their flags are set on load)
_STATELESS = (gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker)


def _tensor(x: Any) -> Any:
    import torch

    return torch.from_numpy(np.array(x))  # its own dtype: float32 and float64 dynamics differ


def _rng_state(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def _set_rng(rng: np.random.Generator, state: str) -> None:
    rng.bit_generator.state = json.loads(state)


def _base_state(env: gym.Env) -> State | None:
    """The base env's own state, or None when this kind of env is not known to be capturable."""
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

    if isinstance(env, MujocoEnv):
        return {"qpos": _tensor(env.data.qpos), "qvel": _tensor(env.data.qvel), "time": float(env.data.time),
                "rng": _rng_state(env.np_random)}
    if _is_ale(env):  # the emulator's whole state (RAM, CPU, its sticky-action RNG) as bytes
        if env.ale.getFloat("repeat_action_probability") > 0:
            # a sticky action repeats the previous action, which the emulator's state does not hold:
            # a restored game would replay a different history (v5's default 0.25); only 0 is exact
            return None
        ale_state = env.ale.cloneState(include_rng=True).serialize()
        return {"ale": _tensor(np.frombuffer(ale_state, dtype=np.uint8)), "rng": _rng_state(env.np_random)}
    if isinstance(getattr(env, "state", None), np.ndarray) and _is_classic_control(env):
        state: State = {"state": _tensor(env.state), "rng": _rng_state(env.np_random)}
        if hasattr(env, "steps_beyond_terminated"):
            sbt = env.steps_beyond_terminated
            state["steps_beyond_terminated"] = -1 if sbt is None else int(sbt)
        return state
    return None


def _is_ale(env: gym.Env) -> bool:
    return type(env).__module__.startswith("ale_py")


def _is_classic_control(env: gym.Env) -> bool:
    """A Gymnasium classic-control env, or a user's env derived from one (e.g. env/variants.py):
    its whole state is the `state` array and the generator."""
    return any(c.__module__.startswith("gymnasium.envs.classic_control") for c in type(env).__mro__)


def _load_base(env: gym.Env, state: State) -> None:
    from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

    if isinstance(env, MujocoEnv):
        env.set_state(state["qpos"].numpy(), state["qvel"].numpy())
        env.data.time = float(state["time"])
    elif "ale" in state:
        import ale_py

        env.ale.restoreState(ale_py.ALEState(state["ale"].numpy().tobytes()))
        _set_rng(env.np_random, state["rng"])
        return
    else:
        env.state = state["state"].numpy().copy()
        if "steps_beyond_terminated" in state:
            sbt = int(state["steps_beyond_terminated"])
            env.steps_beyond_terminated = None if sbt < 0 else sbt
    _set_rng(env.np_random, state["rng"])


def sub_env_state(env: gym.Env) -> State | None:
    """One sub-env with its wrappers, or None if any layer cannot be captured."""
    layers: list[State] = []
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            # Gymnasium keeps the count in a private field and offers no accessor for it
            layers.append({"elapsed": int(env._elapsed_steps or 0)})
        elif isinstance(env, gym.wrappers.FrameStackObservation):
            layers.append({"queue": _tensor(np.stack(list(env.obs_queue)))})
        elif isinstance(env, gym.wrappers.AtariPreprocessing):  # the two frames it max-pools, the lives it counts
            layers.append({"obs_buffer": _tensor(np.stack(env.obs_buffer)), "lives": int(env.lives),
                           "game_over": bool(env.game_over)})
        elif isinstance(env, EpisodicLife):
            layers.append({"lives": int(env.lives)})
        elif isinstance(env, _STATELESS):
            layers.append({})
        else:
            return None
        env = env.env
    base = _base_state(env)
    return None if base is None else {"wrappers": layers, "base": base}


def load_sub_env_state(env: gym.Env, state: State) -> None:
    layers = iter(state["wrappers"])
    while isinstance(env, gym.Wrapper):
        layer = next(layers)
        if isinstance(env, gym.wrappers.TimeLimit):
            env._elapsed_steps = int(layer["elapsed"])
        elif isinstance(env, gym.wrappers.FrameStackObservation):
            dtype = env.observation_space.dtype
            env.obs_queue.clear()
            env.obs_queue.extend(np.asarray(row, dtype=dtype) for row in layer["queue"].numpy())
        elif isinstance(env, gym.wrappers.AtariPreprocessing):
            for buffer, saved in zip(env.obs_buffer, layer["obs_buffer"].numpy()):
                buffer[...] = saved
            env.lives, env.game_over = int(layer["lives"]), bool(layer["game_over"])
        elif isinstance(env, EpisodicLife):
            env.lives = int(layer["lives"])
        elif isinstance(env, gym.wrappers.OrderEnforcing):
            env._has_reset = True  # a restored env continues an episode: it has been reset
        elif isinstance(env, gym.wrappers.PassiveEnvChecker):
            # its checks ran on the first reset and steps of the run; they look at no state of the game
            env.checked_reset = env.checked_step = env.checked_data_reuse = True
        env = env.env
    _load_base(env, state["base"])


def vector_env_state(venv: gym.vector.VectorEnv) -> State | None:
    """The whole vector env below the lab's vector wrappers, or None when it cannot be saved."""
    base = venv.unwrapped
    if isinstance(base, SameStepCartPole):
        return {"batched": {"state": _tensor(base.state), "steps": _tensor(base.steps),
                            "prev_done": _tensor(base.prev_done), "rng": _rng_state(base.np_random)}}
    if isinstance(base, gym.vector.SyncVectorEnv):
        subs = [sub_env_state(env) for env in base.envs]
        return None if any(s is None for s in subs) else {"sync": subs}
    return None


def load_vector_env_state(venv: gym.vector.VectorEnv, state: State) -> None:
    base = venv.unwrapped
    if "batched" in state:
        saved = state["batched"]
        base.state = saved["state"].numpy().copy()
        base.steps = saved["steps"].numpy().astype(np.int32)
        base.prev_done = saved["prev_done"].numpy().astype(np.bool_)
        _set_rng(base.np_random, saved["rng"])
    else:
        if len(state["sync"]) != len(base.envs):
            raise ValueError(f"saved for {len(state['sync'])} sub-envs, this env has {len(base.envs)}")
        for env, sub in zip(base.envs, state["sync"]):
            load_sub_env_state(env, sub)
