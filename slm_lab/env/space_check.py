"""`slm-lab check`'s look at each env's spaces (env/spaces.py says what is supported)."""

from __future__ import annotations

from typing import Any

from slm_lab.env.gymnasium import make_vector_env
from slm_lab.env.protocol import BodySpaces
from slm_lab.env.spaces import action_space_fields, check_multi_input
from slm_lab.spec.errors import SpecError


def check_spec_spaces(spec: Any, where: str = "") -> None:
    """`slm-lab check`: build each Gymnasium env's spaces (made, never stepped) and refuse an
    unsupported observation or action space, or an algorithm that cannot act in it (DQN with a
    Box or a MultiDiscrete: spec/schema_algorithm.py ALGORITHM_ACTIONS)."""
    from slm_lab.spec.aeb_check import pairs
    from slm_lab.spec.plugin_schema import family
    from slm_lab.spec.schema import action_mismatch, describe_actions

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
            spaces = BodySpaces(obs_dim=0, num_bodies=1, **action_space_fields(act_space, env_spec.name))
            for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom):
                if pe == e and spec.agent[a].net.type == "MultiInputNet":
                    check_multi_input(venv.metadata.get("obs_layout"), spec.agent[a].net, env_spec.name)
        except SpecError as err:
            raise SpecError(f"{prefix}env[{e}]: {err}") from None
        finally:
            venv.close()
        kind = spaces.action_kind
        actions = describe_actions(kind, spaces.action_nvec or (spaces.action_dim,))
        for a, pe in pairs(spec.body.product, len(spec.agent), len(spec.env), spec.body.custom):
            algo = spec.agent[a].algorithm
            if pe == e and (reason := action_mismatch(algo.name, family(algo) or algo.name, kind, actions, f"env '{env_spec.name}'")):
                raise SpecError(f"{prefix}agent[{a}]: {reason}")


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
