"""Components a user brings: an algorithm, memory or net named `module:Class` in a spec (like
env entry points), or a name given to `slm_lab.register` in the running process.

Kept light (no torch at import): the spec schema asks `is_plugin_name` while validating and
only imports a plugin's module when a spec names it. Every session process resolves the name
again, so a `module:Class` must be importable there (a module on sys.path, not `__main__`).
A registered name travels to spawned sessions as its `module:qualname` in $SLM_LAB_PLUGINS.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from slm_lab.spec.errors import SpecError

PLUGIN_ENV = "SLM_LAB_PLUGINS"
KINDS = ("algorithm", "memory", "net")
_registered: dict[str, tuple[str, type]] = {}  # name -> (kind, class), this process only


def _env_entries() -> dict[str, str]:
    """Registered names inherited from the parent process: name -> module:qualname."""
    text = os.environ.get(PLUGIN_ENV, "")
    return dict(item.split("=", 1) for item in text.split(";") if "=" in item)


def is_plugin_name(name: Any) -> bool:
    return isinstance(name, str) and (":" in name or name in _registered or name in _env_entries())


# filled by the agent packages as they are imported (agent/algorithm, agent/memory, agent/net):
# kind -> (built-in registry, the base classes a plugin must subclass)
_KINDS: dict[str, tuple[dict[str, type], tuple[type, ...]]] = {}


def declare_kind(kind: str, registry: dict[str, type], bases: tuple[type, ...]) -> None:
    """Called by an agent package: its built-ins and what a plugin of `kind` must subclass."""
    _KINDS[kind] = (registry, bases)


def _kind(kind: str) -> tuple[dict[str, type], tuple[type, ...]]:
    if kind not in _KINDS:
        # the spec layer never imports the agent layer; it is loaded by name, as a plugin's own module
        # is, only when a spec names a plugin (slm_lab.agent declares every kind when imported)
        importlib.import_module("slm_lab.agent")
    return _KINDS[kind]


def builtins(kind: str) -> dict[str, type]:
    """The lab's own classes of `kind`."""
    return dict(_kind(kind)[0].items())


def base_classes(kind: str) -> tuple[type, ...]:
    """What a plugin of `kind` must subclass."""
    return _kind(kind)[1]


def _base_names(kind: str) -> str:
    return " or ".join(f"{c.__module__}.{c.__qualname__}" for c in base_classes(kind))


def kind_of(cls: type) -> str:
    for kind in KINDS:
        if issubclass(cls, base_classes(kind)):
            return kind
    raise SpecError(f"register: {cls.__qualname__} is not an algorithm, memory or net "
                    f"(subclass {_base_names('algorithm')}, a lab memory, or torch.nn.Module)")


def register(name: str, cls: type) -> None:
    """Make `name` usable in specs of this process (and of the sessions it spawns, when `cls`
    lives in an importable module). Built-in names cannot be replaced."""
    if not isinstance(cls, type):
        raise SpecError(f"register: {cls!r} is not a class")
    if not name or ":" in name:
        raise SpecError(f"register: '{name}' is not a name (no ':'; that form names a module:Class)")
    kind = kind_of(cls)
    if name in builtins(kind):
        raise SpecError(f"register: '{name}' is a built-in {kind}; choose another name")
    _registered[name] = (kind, cls)
    entries = _env_entries()
    entries[name] = f"{cls.__module__}:{cls.__qualname__}"
    os.environ[PLUGIN_ENV] = ";".join(f"{k}={v}" for k, v in entries.items())


def unimportable(names: list[str]) -> list[str]:
    """The registered names among `names` whose class a spawned process cannot import."""
    return [n for n in names if n in _registered and _registered[n][1].__module__ == "__main__"]


def _import(path: str, kind: str, registered_as: str | None = None) -> type:
    module_name, _, qualname = path.partition(":")
    if module_name == "__main__" and registered_as is not None:
        raise SpecError(f"{kind} '{registered_as}' was registered from __main__ (a script, notebook or stdin), which a "
                        f"spawned session cannot import: move the class into a module and name it as 'module:Class', "
                        f"or run one session (meta.max_session=1)")
    if not module_name or not qualname:
        raise SpecError(f"{kind} '{path}' is not of the form module:Class")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise SpecError(f"{kind} '{path}': cannot import module '{module_name}' ({e})") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise SpecError(f"{kind} '{path}': module '{module_name}' has no '{qualname}'")
        obj = getattr(obj, part)
    return obj


def resolve(kind: str, name: str) -> type:
    """The class a spec's `kind` name means: registered here, registered in the parent, or
    `module:Class`; checked against the base class it must subclass."""
    if name in _registered:
        cls = _registered[name][1]
    elif name in _env_entries():
        cls = _import(_env_entries()[name], kind, registered_as=name)
    elif ":" in name:
        cls = _import(name, kind)
    else:
        valid = ", ".join(builtins(kind))
        raise SpecError(f"{kind} '{name}' is not a built-in (valid: {valid}), a registered name or a module:Class")
    if not isinstance(cls, type) or not issubclass(cls, base_classes(kind)):
        raise SpecError(f"{kind} '{name}' must be a subclass of {_base_names(kind)}")
    return cls


def builtin_ancestor(kind: str, cls: type) -> str | None:
    """The nearest built-in class a plugin extends (its spec keys are that one's), if any."""
    by_class = {c: n for n, c in builtins(kind).items()}
    return next((by_class[c] for c in cls.__mro__ if c in by_class), None)


class Registry(dict):
    """A built-in registry that also answers `module:Class` and registered names."""

    def __init__(self, kind: str, entries: dict[str, type]) -> None:
        super().__init__(entries)
        self.kind = kind

    def __missing__(self, name: str) -> type:
        return resolve(self.kind, name)
