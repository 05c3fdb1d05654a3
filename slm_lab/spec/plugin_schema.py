"""Spec blocks for plugins: an `algorithm`, `memory` or `net` block naming `module:Class` (or a
name given to `slm_lab.register`) is validated by the model of the built-in it extends, with
its name free and extra keys kept for the plugin (slm_lab/plugins.py finds the class).

A plugin may bring its own pydantic model as `spec_model` (a subclass of the built-in's spec
model, say DQNSpec): its keys are then validated by it too. The plugin reads its keys from
the block it is given (`spec.algorithm.my_key`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, ClassVar, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PlainValidator, Tag, ValidationError

from slm_lab.spec.errors import SpecError, format_validation_error

NAME_KEYS = {"algorithm": "name", "memory": "name", "net": "type"}


def _models(annotation: Any, key: str) -> dict[str, type[BaseModel]]:
    """name -> model of a (possibly tagged) union annotation."""
    found: dict[str, type[BaseModel]] = {}
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found[arg.model_fields[key].default] = arg
        elif arg is not None:
            found.update(_models(arg, key))
    return found


@lru_cache(maxsize=None)
def plugin_model(base: type[BaseModel], key: str, builtin: str | None, own: bool) -> type[BaseModel]:
    """`base` with its name key a free string and the built-in it extends; extra keys kept
    unless `base` is the plugin's own model (which then decides)."""
    namespace = {"__annotations__": {key: str, "builtin_name": ClassVar[Optional[str]]}, key: Field(min_length=1), "__module__": __name__,
                 "model_config": ConfigDict(extra=base.model_config.get("extra") if own else "allow", validate_assignment=True),
                 "builtin_name": builtin}
    return type(f"Plugin{base.__name__}", (base,), namespace)


def family(block: Any) -> str:
    """The built-in name a block behaves as: its own, or the one its plugin extends ('' if none)."""
    builtin = getattr(type(block), "builtin_name", False)
    if builtin is not False:
        return builtin or ""
    return getattr(block, "name", None) or getattr(block, "type")


def _validator(kind: str, builtin_union: Any, fallback: type[BaseModel]) -> Any:
    key = NAME_KEYS[kind]

    def validate(value: Any) -> BaseModel:
        if isinstance(value, BaseModel):
            if getattr(type(value), "builtin_name", False) is not False:
                return value
            value = value.model_dump()
        if not isinstance(value, dict):
            raise ValueError("is not an object")
        from slm_lab.plugins import builtin_ancestor, resolve

        try:
            cls = resolve(kind, value[key])
            builtin = builtin_ancestor(kind, cls)
        except SpecError as e:
            raise ValueError(str(e)) from None
        own = getattr(cls, "spec_model", None)
        base = own or _models(builtin_union, key).get(builtin or "", fallback)
        try:
            return plugin_model(base, key, builtin, own is not None).model_validate(value)
        except ValidationError as e:
            raise ValueError(f"{value[key]}: {format_validation_error(e)}") from None

    return validate


def with_plugins(kind: str, builtin_union: Any, fallback: type[BaseModel], default: str | None = None) -> Any:
    """The block's type: the built-in union, or a plugin block when the name says so."""
    key = NAME_KEYS[kind]

    def tag(value: Any) -> str:
        from slm_lab.plugins import is_plugin_name

        name = value.get(key, default) if isinstance(value, dict) else getattr(value, key, default)
        return "plugin" if is_plugin_name(name) else "builtin"

    return Annotated[Union[Annotated[builtin_union, Tag("builtin")],
                           Annotated[Any, PlainValidator(_validator(kind, builtin_union, fallback)), Tag("plugin")]],
                     Discriminator(tag)]
