"""`slm-lab check`'s look at each env's spaces (env/spaces.py says what is supported)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from slm_lab.env.gymnasium import make_vector_env
from slm_lab.env.spaces import check_action_space, check_multi_input
from slm_lab.spec.errors import SpecError


def check_spec_spaces(spec: Any, where: str = "") -> None:
    """`slm-lab check`: build each Gymnasium env's spaces (made, never stepped) and refuse an
    unsupported observation or action space, or an algorithm that cannot act in it."""
    from slm_lab.spec.aeb_check import pairs
    from slm_lab.spec.plugin_schema import family
    from slm_lab.spec.schema import ALGORITHM_ACTIONS, ANY_ACTIONS

    prefix = f"{where}: " if where else ""
    for e, env_spec in enumerate(spec.env):
        if env_spec.has_own_bodies or "${" in env_spec.name:
            continue
        try:
            venv = make_vector_env(env_spec, 1, evaluation=True)
        except SpecError as err:
            raise SpecError(f"{prefix}env[{e}]: {err}") from None
        try:
            act_space = venv.single_action_space
            check_action_space(act_space, env_spec.name)
            for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom):
                if pe == e and spec.agent[a].net.type == "MultiInputNet":
                    check_multi_input(venv.metadata.get("obs_layout"), spec.agent[a].net, env_spec.name)
        except SpecError as err:
            raise SpecError(f"{prefix}env[{e}]: {err}") from None
        finally:
            venv.close()
        kind = "discrete" if isinstance(act_space, gym.spaces.Discrete) else "continuous"
        for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom):
            name = family(spec.agent[a].algorithm) or spec.agent[a].algorithm.name
            if pe == e and kind not in ALGORITHM_ACTIONS.get(name, ANY_ACTIONS):
                raise SpecError(f"{prefix}agent[{a}]: algorithm {spec.agent[a].algorithm.name} needs "
                                f"{' or '.join(ALGORITHM_ACTIONS[name])} actions, but env '{env_spec.name}' has {act_space}")


def check_multi_input_nets(spec: Any) -> None:
    """Before a run: every env paired with a MultiInputNet agent gives Tuple / Dict observations
    its conv layers fit (builds only those envs, never steps them); else a SpecError."""
    from slm_lab.spec.aeb_check import pairs

    for e, env_spec in enumerate(spec.env):
        nets = [spec.agent[a].net for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom)
                if pe == e and spec.agent[a].net.type == "MultiInputNet"]
        if not nets or env_spec.has_own_bodies:
            continue
        venv = make_vector_env(env_spec, 1, evaluation=True)
        try:
            for net in nets:
                check_multi_input(venv.metadata.get("obs_layout"), net, env_spec.name)
        finally:
            venv.close()
