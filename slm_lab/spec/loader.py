"""Load a named spec from a JSON file, apply overrides and placeholders, validate it.

Order: read JSON -> pick the named spec -> `${var}` placeholders -> `-s path=value`
overrides -> mode adjustments -> schema validation. Every failure is a one-line SpecError.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from slm_lab.spec import paths
from slm_lab.spec.errors import SpecError, format_validation_error, read_json_input, show
from slm_lab.spec.schema import Spec

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SHIPPED_SPEC_DIR = Path(__file__).parent
DEV_MAX_FRAME = 2000


def resolve_spec_path(spec_file: str | Path) -> Path:
    """A path as given, else relative to the shipped spec folder (`benchmark/dqn/dqn_cartpole.json`)."""
    path = Path(spec_file)
    if path.is_file():
        return path
    shipped = SHIPPED_SPEC_DIR / path
    if shipped.is_file():
        return shipped
    raise SpecError(f"spec file '{spec_file}' not found")


def read_spec_file(spec_file: str | Path) -> dict[str, Any]:
    """The file's named specs as plain dicts."""
    path = resolve_spec_path(spec_file)
    data = read_json_input(path)
    if isinstance(data, dict) and isinstance(data.get("agent"), list) and "env" in data:
        # one spec as a run folder saves it (data/<run>/spec.json): it reruns as it is, under its name
        data = {str(data.get("name") or path.stem): data}
    if not isinstance(data, dict) or not data:
        raise SpecError(f"{path}: expected an object of named specs, like {{\"my_spec\": {{...}}}}")
    for name, raw in data.items():
        if not isinstance(raw, dict):
            raise SpecError(f"{path}: spec '{name}' is not an object")
    return data


def substitute(raw: Any, variables: dict[str, Any]) -> Any:
    """Replace `${name}` placeholders; a whole-string placeholder keeps the value's type."""
    if isinstance(raw, dict):
        return {k: substitute(v, variables) for k, v in raw.items()}
    if isinstance(raw, list):
        return [substitute(v, variables) for v in raw]
    if isinstance(raw, str):
        whole = PLACEHOLDER.fullmatch(raw)
        if whole:
            return _lookup_var(whole.group(1), variables)
        return PLACEHOLDER.sub(lambda m: str(_lookup_var(m.group(1), variables)), raw)
    return raw


def _lookup_var(name: str, variables: dict[str, Any]) -> Any:
    if name not in variables:
        raise SpecError(f"placeholder '${{{name}}}' has no value (pass it with --var {name}=VALUE)")
    return variables[name]


def parse_assignment(text: str, what: str = "override") -> tuple[str, Any]:
    """`a.b.0.c=value` -> ("a.b.0.c", value); the value is read as JSON, else kept as a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpecError(f"{what} '{text}' must look like path.to.key=value")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    except RecursionError:
        raise SpecError(f"{what} '{key}': the value is nested too deeply") from None
    return key, parsed


def _defaults_for(raw: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    """The spec with every default filled, when `dotted` passes through an object `raw` lacks
    (so an override fills that block's defaults, as a search sample does); else None."""
    parent = dotted.rpartition(".")[0]
    if not parent or paths.exists(raw, parent):
        return None
    try:
        return Spec.model_validate(raw).model_dump(mode="json")
    except ValidationError:
        return None  # the spec is not whole yet: the block starts empty and the schema judges it


def apply_mode(raw: dict[str, Any], mode: str) -> None:
    """Mode adjustments: dev runs one short session; enjoy replays one session."""
    meta = raw.setdefault("meta", {})
    if mode == "dev":
        meta["max_session"] = 1
        for env in raw.get("env", []):
            if isinstance(env, dict):
                env["max_frame"] = min(int(env.get("max_frame", DEV_MAX_FRAME)), DEV_MAX_FRAME)
        if isinstance(meta, dict):
            meta["log_frequency"] = min(int(meta.get("log_frequency", 1000)), 500)
            meta["eval_frequency"] = min(int(meta.get("eval_frequency", 1000)), 1000)
    elif mode.startswith("enjoy"):
        meta["max_session"] = 1


def validate(raw: dict[str, Any]) -> Spec:
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(f"{raw.get('name', 'spec')}: {format_validation_error(e)}") from None
    if spec.search:
        _check_search(raw, spec)
    return spec


def _check_search(raw: dict[str, Any], spec: Spec) -> None:
    """Searched paths must exist and every value a search can draw must make a valid spec."""
    from slm_lab.spec.search import check_search

    try:
        check_search(raw, spec.model_dump(mode="json"), optuna=spec.meta.search == "optuna", validate=validate)
    except SpecError as e:
        raise SpecError(f"{raw.get('name', 'spec')}: {e}") from None


def spec_param_variants(raw: dict[str, Any], where: str = "spec") -> list[dict[str, Any]]:
    """The `${var}` values of each benchmark trial: every combination of the `spec_params`
    lists, in file order; `[{}]` for a spec without spec_params."""
    params = raw.get("spec_params") or {}
    if not isinstance(params, dict):
        raise SpecError(f"{where}: spec_params: {show(params)} is not an object of lists, like {{\"env\": [\"CartPole-v1\"]}}")
    for key, values in params.items():
        if not PLACEHOLDER.fullmatch(f"${{{key}}}"):
            raise SpecError(f"{where}: spec_params: '{key}' is not a placeholder name (letters, digits, _)")
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where}: spec_params.{key}: {show(values)} is not a non-empty list of values")
    keys = list(params)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(params[k] for k in keys))]


def load_spec(
    spec_file: str | Path,
    spec_name: str,
    overrides: list[str] | None = None,
    variables: dict[str, Any] | None = None,
    mode: str = "train",
) -> Spec:
    """The validated Spec named `spec_name` in `spec_file`."""
    specs = read_spec_file(spec_file)
    if spec_name not in specs:
        raise SpecError(f"spec '{spec_name}' not found in {spec_file} (available: {', '.join(specs)})")
    raw = build_raw(specs[spec_name], spec_name, overrides, variables, mode)
    return validate(raw)


def build_raw(
    raw: dict[str, Any],
    spec_name: str,
    overrides: list[str] | None = None,
    variables: dict[str, Any] | None = None,
    mode: str = "train",
) -> dict[str, Any]:
    raw = substitute(copy.deepcopy(raw), variables or {})
    raw["name"] = spec_name
    for text in overrides or []:
        key, value = parse_assignment(text)
        paths.assign(raw, key, value, defaults=_defaults_for(raw, key))
    apply_mode(raw, mode)
    return raw


def check_file(spec_file: str | Path, spaces: bool = True) -> list[str]:
    """Validate every spec in a file; returns the names checked. Raises SpecError on the first bad one.

    Specs with `${var}` placeholders are checked with each listed value of `spec_params`
    when present (benchmark specs), else the placeholders must resolve from nothing.
    """
    specs = read_spec_file(spec_file)
    for name, raw in specs.items():
        for variables in spec_param_variants(raw, where=name):
            spec = validate(build_raw(raw, name, variables=variables))
            check_env_names(spec, where=name)
            if spaces:
                from slm_lab.env.space_check import check_spec_spaces  # imports gymnasium, not torch

                check_spec_spaces(spec, where=name)
    return list(specs)


def _module_exists(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or the name is malformed
        return False


def check_env_names(spec: Spec, where: str = "") -> None:
    """Gymnasium ids must be registered; entry points must look like module:Class."""
    for i, env in enumerate(spec.env):
        name = env.name
        prefix = f"{where}: " if where else ""
        if env.has_own_bodies:
            _check_multiagent_env(env, f"{prefix}env[{i}]")
            continue
        if env.kind == "entry_point":
            module, _, cls = name.partition(":")
            if not module or not (cls.isidentifier() or re.fullmatch(r"[\w./-]+-v\d+", cls)):  # module:Class or module:EnvId
                raise SpecError(f"{prefix}env[{i}].name: {show(name)} is not a module:Class entry point")
            if not _module_exists(module):  # found without importing it: checks stay instant
                raise SpecError(f"{prefix}env[{i}].name: {show(name)}: module '{module}' cannot be found (is it installed or on PYTHONPATH?)")
            continue
        import gymnasium

        if name.startswith("slm_lab/"):
            import slm_lab.env.memory_tasks  # noqa: F401  registers the lab's own slm_lab/... ids
        if name.startswith("ALE/"):
            try:
                import ale_py  # noqa: F401  registers the ALE/ ids
            except ImportError:
                raise SpecError(f"{prefix}env[{i}].name: {show(name)} needs ale-py (pip install ale-py)") from None
        if name not in gymnasium.envs.registry:
            close = [k for k in gymnasium.envs.registry if k.lower().startswith(name.split("-")[0].lower())][:5]
            hint = f" (did you mean: {', '.join(close)})" if close else ""
            raise SpecError(f"{prefix}env[{i}].name: {show(name)} is not a registered Gymnasium id{hint}")


def _check_multiagent_env(env: Any, where: str) -> None:
    """`unity:<name>` must be a known Unity env and `pettingzoo:<module>` a module path whose
    package is installed. Nothing is imported or started here: checks stay instant."""
    import importlib.util

    from slm_lab.env.unity_install import UNITY_ENVS, unity_options

    name, kind = env.name, env.kind
    rest = name.partition(":")[2]
    if kind == "unity" and rest not in UNITY_ENVS:
        known = ", ".join(f"unity:{n}" for n in UNITY_ENVS)
        raise SpecError(f"{where}.name: {show(name)} is not a known Unity env (known: {known})")
    if kind == "pettingzoo":
        if not rest or not all(part.isidentifier() for part in rest.split(".")):
            raise SpecError(f"{where}.name: {show(name)} is not pettingzoo:<module path>, like pettingzoo:mpe2.simple_spread_v3")
        top = rest.split(".")[0]
        if importlib.util.find_spec(top) is None:
            raise SpecError(f"{where}.name: {show(name)} needs the package '{top}' (pip install it)")
    # bodies are the Unity brain's / PettingZoo env's agents, and these adapters apply no
    # observation or reward processing: refuse settings that would be silently ignored
    if env.num_envs != 1:
        raise SpecError(f"{where}.num_envs: {env.num_envs} must be 1 for {kind} envs (the bodies are the env's own agents)")
    for key in ("normalize_obs", "normalize_reward", "clip_reward", "episodic_life"):
        if getattr(env, key, None):
            raise SpecError(f"{where}.{key}: not supported for {kind} envs")
    if getattr(env, "preprocess", "none") == "atari" or getattr(env, "frame_stack", None) not in (None, 1):
        raise SpecError(f"{where}: atari preprocessing and frame_stack are not supported for {kind} envs")
    if kind == "unity":
        try:
            unity_options(rest, env.kwargs)
        except SpecError as e:
            raise SpecError(f"{where}.{str(e).removeprefix('env.')}") from None
