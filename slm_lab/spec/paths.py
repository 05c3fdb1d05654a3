"""Dotted paths into a raw spec (`agent.0.net.optim_spec.lr`): one module for `-s` overrides,
search samples and resume overrides, so the same path means the same thing everywhere.

A path walks dicts by key and lists by index. Setting a value creates the objects missing on
the way: copied from `defaults` (the spec with every default filled in) where it has them, so
`agent.0.algorithm.explore_var_spec.end_val` on a spec without that block keeps the block's
other default keys; else created empty, and the schema then judges the keys.
"""

from __future__ import annotations

import copy
from typing import Any

from slm_lab.spec.errors import SpecError

_MISSING = object()


def split(dotted: str, what: str = "path") -> list[str]:
    parts = dotted.split(".")
    if not dotted or any(part == "" for part in parts):
        raise SpecError(f"{what} '{dotted}' is not a dotted path (e.g. agent.0.net.hid_layers)")
    return parts


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    return _MISSING


def exists(node: Any, dotted: str) -> bool:
    for part in split(dotted):
        node = _child(node, part)
        if node is _MISSING:
            return False
    return True


def get(node: Any, dotted: str, what: str = "path") -> Any:
    parts = split(dotted, what)
    for i, part in enumerate(parts):
        node = _child(node, part)
        if node is _MISSING:
            raise SpecError(f"{what} '{'.'.join(parts[: i + 1])}' does not exist in the spec")
    return node


def assign(raw: dict[str, Any], dotted: str, value: Any, defaults: Any = None, what: str = "override") -> None:
    """Set `value` at `dotted` in `raw` (in place); see the module notes for missing objects.
    List indices must exist: a path never grows a list."""
    parts = split(dotted, what)
    node: Any = raw
    default: Any = defaults
    for i, part in enumerate(parts[:-1]):
        default = _child(default, part) if default is not None else _MISSING
        default = None if default is _MISSING else default
        if isinstance(node, dict) and part not in node:
            node[part] = copy.deepcopy(default) if isinstance(default, dict) else {}
        child = _child(node, part)
        if child is _MISSING or not isinstance(child, (dict, list)):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                raise SpecError(f"{what} '{dotted}': '{part}' is not an index of the list at '{'.'.join(parts[:i]) or dotted}' "
                                f"({len(node)} entries)")
            raise SpecError(f"{what} '{dotted}': '{where}' is not an object or list")
        node = child
    last = parts[-1]
    if isinstance(node, list):
        if not (last.isdigit() and int(last) < len(node)):
            raise SpecError(f"{what} '{dotted}': '{last}' is not an index of a list of {len(node)}")
        node[int(last)] = copy.deepcopy(value)
    else:
        node[last] = copy.deepcopy(value)
