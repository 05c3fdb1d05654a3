"""The search space of a spec: parse, check, turn into Ray Tune domains, apply a sample.

A spec's `search` block names spec values to vary, as `path__kind: args`, in either of two
forms that may be mixed:

    {"agent.0.algorithm.gamma__uniform": [0.9, 0.999]}                   # dotted keys
    {"agent": [{"algorithm": {"gamma__uniform": [0.9, 0.999]}}]}         # nested like the spec

Kinds follow Ray Tune's sampling functions (upper bounds as Ray Tune has them: `randint`
excludes `high`, `qrandint` includes it):

    grid_search [v1, v2, ...]      every value, crossed with every other grid key
    choice      [v1, v2, ...]      one value at random
    uniform / loguniform          [low, high]       quniform / qloguniform   [low, high, q]
    randint                       [low, high]       qrandint                 [low, high, q]
    normal                        [mean, sd]        qnormal                  [mean, sd, q]

Everything here except `tune_domain` is free of heavy imports: `slm-lab check` uses it.
Bad input raises SpecError (a ValueError, so the schema can raise it from a validator).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

from slm_lab.spec import paths
from slm_lab.spec.errors import SpecError, show

CATEGORICAL_KINDS = ("grid_search", "choice")
# kind -> (number of args, integer args?, log scale?)
NUMERIC_KINDS: dict[str, tuple[int, bool, bool]] = {
    "uniform": (2, False, False),
    "quniform": (3, False, False),
    "loguniform": (2, False, True),
    "qloguniform": (3, False, True),
    "randint": (2, True, False),
    "qrandint": (3, True, False),
    "normal": (2, False, False),
    "qnormal": (3, False, False),
}
KINDS = (*CATEGORICAL_KINDS, *NUMERIC_KINDS)
NORMAL_KINDS = ("normal", "qnormal")
# spec parts a search must not touch: they are the search, or filled in by the lab
FORBIDDEN_ROOTS = ("name", "search", "spec_params")
INNER_FRACTION = (5**0.5 - 1) / 2


@dataclass(frozen=True)
class SearchParam:
    """One searched spec value: `key` as written (flattened), its dotted `path`, `kind`, `args`."""

    key: str
    path: str
    kind: str
    args: tuple[Any, ...]

    @property
    def categorical(self) -> bool:
        return self.kind in CATEGORICAL_KINDS


# --- parsing (no spec needed) -------------------------------------------------------------


def parse_search(search: dict[str, Any]) -> list[SearchParam]:
    """The search block as a list of params, in the order written; checks kinds and arguments."""
    if not isinstance(search, dict):
        raise SpecError(f"search: {show(search)} is not an object of 'path__kind': args")
    params: list[SearchParam] = []
    _flatten(search, "", params)
    seen: dict[str, str] = {}
    for p in params:
        if p.path in seen:
            raise SpecError(f"search: key '{p.key}': '{p.path}' is searched twice (also by '{seen[p.path]}')")
        seen[p.path] = p.key
    return params


def _flatten(block: dict[str, Any], prefix: str, out: list[SearchParam]) -> None:
    for key, value in block.items():
        where = f"{prefix}.{key}" if prefix else key
        path, sep, kind = key.rpartition("__")
        if sep:
            if not path or not kind:
                raise SpecError(f"search: key '{where}' must look like 'path.to.key__kind'")
            full = f"{prefix}.{path}" if prefix else path
            out.append(_make_param(f"{full}__{kind}", full, kind, value))
        elif isinstance(value, dict):
            _flatten(value, where, out)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            # a nested list mirrors a list of the spec, like `agent`: one object per index
            for i, item in enumerate(value):
                _flatten(item, f"{where}.{i}", out)
        else:
            raise SpecError(
                f"search: key '{where}' has no kind: write '{where}__choice' (or another kind: {', '.join(KINDS)})"
            )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _make_param(key: str, path: str, kind: str, args: Any) -> SearchParam:
    if kind not in KINDS:
        raise SpecError(f"search: key '{key}': unknown kind '{kind}' (valid: {', '.join(KINDS)})")
    if any(part == "" for part in path.split(".")):
        raise SpecError(f"search: key '{key}': '{path}' is not a dotted path like agent.0.algorithm.gamma")
    if path.split(".")[0] in FORBIDDEN_ROOTS or path.startswith("meta.resolved"):
        raise SpecError(f"search: key '{key}': '{path}' cannot be searched")
    if not isinstance(args, list):
        raise SpecError(f"search: key '{key}': {show(args)} is not a list of arguments")
    if kind in CATEGORICAL_KINDS:
        if not args:
            raise SpecError(f"search: key '{key}': {kind} needs at least one value, got []")
        return SearchParam(key, path, kind, tuple(args))
    nargs, integer, log = NUMERIC_KINDS[kind]
    names = _arg_names(kind)
    if len(args) != nargs:
        raise SpecError(f"search: key '{key}': {kind} takes {nargs} arguments [{', '.join(names)}], got {show(args)}")
    for name, a in zip(names, args):
        if not _is_number(a):
            raise SpecError(f"search: key '{key}': {name} {show(a)} is not a number")
        if integer and not float(a).is_integer():
            raise SpecError(f"search: key '{key}': {name} {show(a)} is not an integer ({kind} samples integers)")
    if kind in NORMAL_KINDS:
        if args[1] <= 0:
            raise SpecError(f"search: key '{key}': sd {show(args[1])} must be greater than 0")
    else:
        low, high = args[0], args[1]
        if low >= high:
            raise SpecError(f"search: key '{key}': low {show(low)} must be less than high {show(high)}")
        if log and low <= 0:
            raise SpecError(f"search: key '{key}': {kind} needs low > 0, got {show(low)}")
    if nargs == 3 and args[2] <= 0:
        raise SpecError(f"search: key '{key}': q {show(args[2])} must be greater than 0")
    if integer:
        args = [int(a) for a in args]
    return SearchParam(key, path, kind, tuple(args))


def _arg_names(kind: str) -> tuple[str, ...]:
    names = ("mean", "sd") if kind in NORMAL_KINDS else ("low", "high")
    return (*names, "q") if NUMERIC_KINDS[kind][0] == 3 else names


# --- checking against a spec --------------------------------------------------------------


def check_search(raw: dict[str, Any], full: dict[str, Any], optuna: bool = False,
                 validate: Callable[[dict[str, Any]], Any] | None = None) -> list[SearchParam]:
    """Check every searched path exists and its values make a valid spec.

    `raw` is the spec as written (after placeholders and overrides), `full` the validated
    spec dumped with its defaults (a path may name a default the spec did not write).
    `validate(raw)` raises SpecError for an invalid spec; it is called with each categorical
    value and with the ends (and an inner point) of each numeric range put in, one key at a time,
    so a value the spec can never take is an error before any trial starts.
    """
    params = parse_search(raw.get("search") or {})
    for p in params:
        if not paths.exists(full, p.path) and not paths.exists(raw, p.path):
            raise SpecError(f"search: key '{p.key}': path '{p.path}' does not exist in the spec")
        if optuna and p.kind in NORMAL_KINDS:
            raise SpecError(f"search: key '{p.key}': {p.kind} is not supported with meta.search 'optuna' "
                            "(Optuna has no normal distribution); use uniform or random search")
        if validate is None:
            continue
        for value in probe_values(p):
            trial_raw = apply_sample(raw, full, {p.key: value}, [p])
            try:
                validate(trial_raw)
            except SpecError as e:
                detail = str(e).split(": ", 1)[-1]  # drop the spec-name prefix
                raise SpecError(f"search: key '{p.key}': value {show(value)} gives {detail}") from None
    return params


def probe_values(p: SearchParam) -> list[Any]:
    """Values that stand for what a param can take: every category, else the range's ends and an inner point."""
    if p.categorical:
        return list(p.args)
    nargs, integer, _ = NUMERIC_KINDS[p.kind]
    if p.kind in NORMAL_KINDS:
        return [_quantize(p.args[0], p.args[2] if nargs == 3 else None, integer)]
    low, high = p.args[0], p.args[1]
    q = p.args[2] if nargs == 3 else None
    if integer:
        top = high if q is not None else high - 1  # randint excludes high; qrandint includes it
        values = [low, top, (low + top) // 2]
        if q is not None:
            values = [int(round(v / q) * q) for v in values]
        return sorted(set(values))
    # an inner point at an irrational fraction of the range is never a whole number, so an
    # integer spec key searched with a float kind is caught here, not in a trial
    inner = low + INNER_FRACTION * (high - low)
    values = [low, high, inner if q is None else _quantize(inner, q, False)]
    return list(dict.fromkeys(values))


def _quantize(x: float, q: float | None, integer: bool) -> Any:
    if q is not None:
        x = round(x / q) * q
    return int(round(x)) if integer else float(x)


# --- applying a sample --------------------------------------------------------------------


def apply_sample(raw: dict[str, Any], full: dict[str, Any], values: dict[str, Any],
                 params: list[SearchParam]) -> dict[str, Any]:
    """A copy of `raw` with each param's value set at its path and no search block.

    A path whose objects the spec did not write (defaults) gets them copied from `full`
    first, so `agent.0.algorithm.explore_var_spec.end_val` keeps the other schedule keys.
    """
    out = copy.deepcopy(raw)
    out.pop("search", None)
    for p in params:
        if p.key in values:
            paths.assign(out, p.path, values[p.key], defaults=full, what="search")
    return out


# --- sampling -----------------------------------------------------------------------------


def tune_domain(p: SearchParam, optuna: bool = False) -> Any:
    """The Ray Tune domain of a param. Categorical kinds sample an index into `args`, so any
    JSON value (a list of layer sizes, an object) can be a category; `decode` maps it back.
    With Optuna a grid_search key is a categorical choice (Optuna cannot expand grids)."""
    from ray import tune

    if p.categorical:
        indices = list(range(len(p.args)))
        return tune.grid_search(indices) if p.kind == "grid_search" and not optuna else tune.choice(indices)
    fn = {"normal": tune.randn, "qnormal": tune.qrandn}.get(p.kind) or getattr(tune, p.kind)
    return fn(*p.args)


def decode(p: SearchParam, sampled: Any) -> Any:
    """The spec value of a sampled Ray Tune value (an index for categorical kinds)."""
    if p.categorical:
        return copy.deepcopy(p.args[int(sampled)])
    if NUMERIC_KINDS[p.kind][1]:
        return int(round(float(sampled)))
    return float(sampled)


def sample_random(params: list[SearchParam], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """Random search, reproducible from `seed`: every grid_search combination, each crossed
    with `num_samples` draws of the other params (Ray Tune's meaning of num_samples with a grid).

    Draws use Ray Tune's domains, so values are distributed exactly as Tune would draw them.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    grid = [p for p in params if p.kind == "grid_search"]
    rest = [(p, tune_domain(p)) for p in params if p.kind != "grid_search"]
    combos = list(itertools.product(*(range(len(p.args)) for p in grid))) if grid else [()]
    samples = []
    for _ in range(num_samples):
        for combo in combos:
            values = {p.key: copy.deepcopy(p.args[i]) for p, i in zip(grid, combo)}
            for p, domain in rest:
                values[p.key] = decode(p, domain.sample(random_state=rng))
            samples.append(values)
    return samples
