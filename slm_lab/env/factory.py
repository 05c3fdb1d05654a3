"""`make_env`: the adapter for an env spec, picked by the spec's `kind` (decided once on the
schema from the name): unity -> UnityEnv, pettingzoo -> PettingZooEnv, else GymEnv.
Adapters are imported inside the factory so that importing it stays light; no adapter imports
this module (nor the package's __init__), so there is no import cycle between them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    from slm_lab.env.gymnasium import GymEnv
    from slm_lab.env.pettingzoo import PettingZooEnv
    from slm_lab.env.unity import UnityEnv
    from slm_lab.spec.schema import EnvSpec

    Env = Union[GymEnv, UnityEnv, PettingZooEnv]

def make_env(env_spec: EnvSpec, seed: int, num_envs: int | None = None, **kwargs: Any) -> Env:
    """The adapter for `env_spec.name`. `num_envs` overrides the body count of Gymnasium envs
    (e.g. one body per evaluation episode); Unity and PettingZoo envs have a fixed body
    count (the brain's agents, the env's agents) and ignore it. Other keywords go to the
    adapter (`evaluation=`, `train_env=` for GymEnv; Unity and PettingZoo accept and ignore
    them, having no training-only processing)."""
    if env_spec.kind == "unity":
        from slm_lab.env.unity import UnityEnv

        return UnityEnv(env_spec, seed, num_envs, **kwargs)
    if env_spec.kind == "pettingzoo":
        from slm_lab.env.pettingzoo import PettingZooEnv, import_module

        module = import_module(env_spec.name)
        if not hasattr(module, "parallel_env") and callable(getattr(module, "env", None)):
            from slm_lab.env.pettingzoo_aec import PettingZooAECEnv  # a turn-based game: the AEC API

            return PettingZooAECEnv(env_spec, seed, num_envs, module=module, **kwargs)
        return PettingZooEnv(env_spec, seed, num_envs, **kwargs)
    from slm_lab.env.gymnasium import GymEnv

    return GymEnv(env_spec, seed, num_envs, **kwargs)
