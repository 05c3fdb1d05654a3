"""Spec errors as one line: the JSON path, the bad value, and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

# discriminated unions put the tag into the error location; users never wrote it
_TAGGED_FIELDS = {"algorithm", "memory", "net"}
# callable discriminators appear under their function's name; show the spec key instead
_DISCRIMINATOR_KEYS = {"net_type()": "type"}
_PLUGIN_TAGS = {"builtin", "plugin"}


def _key(name: str) -> str:
    name = name.strip("'")
    return _DISCRIMINATOR_KEYS.get(name, name)


class LabError(Exception):
    """An error the lab explains in one line (its message), never with a traceback."""


class SpecError(LabError, ValueError):
    """A bad spec or bad input: its message is the single line shown to the user (exit status 2)."""


class RunFault(LabError):
    """The run could not go on for a reason outside the spec (a full disk, a read-only data dir,
    a corrupt checkpoint): one line naming the problem and the fix (exit status 1)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run at a safe point; `resume` is the command that continues it."""

    def __init__(self, run_dir: str, resume: str) -> None:
        super().__init__(run_dir)
        self.run_dir, self.resume = run_dir, resume


def read_json_input(path: Path) -> Any:
    """A JSON file the user gave (spec, jobs, settings): its content, or a one-line SpecError."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise SpecError(f"{path}: JSON nested too deeply to be a spec (thousands of levels)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read: {e}") from None


def format_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    skip_next = False
    # the built-in / plugin branch of a component block (spec/plugin_schema.py)
    loc = tuple(item for item in loc if item not in _PLUGIN_TAGS)
    for i, item in enumerate(loc):
        if skip_next:
            skip_next = False
            continue
        if isinstance(item, int):
            parts.append(f"[{item}]")
            continue
        item = _key(item)
        if item in _TAGGED_FIELDS and i + 1 < len(loc) and isinstance(loc[i + 1], str) and loc[i + 1][:1].isupper():
            skip_next = True  # drop the union tag that follows, e.g. memory.Replay.batch_size
        parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "spec"


def show(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(err: dict[str, Any]) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "greater_than":
        gt = ctx.get("gt")
        if gt == 0 and type(gt) is int and isinstance(value, int) and not isinstance(value, bool):
            return "is not a positive integer"
        return f"is not greater than {gt}"
    if kind == "greater_than_equal":
        return f"is less than {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"is greater than {ctx.get('le')}"
    if kind == "less_than":
        return f"is not less than {ctx.get('lt')}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "is not an integer"
    if kind in ("float_parsing", "float_type"):
        return "is not a number"
    if kind in ("bool_parsing", "bool_type"):
        return "is not true or false"
    if kind in ("string_type",):
        return "is not a string"
    if kind in ("list_type",):
        return "is not a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "is not an object"
    if kind == "too_short":
        return f"is too short (needs at least {ctx.get('min_length')} item(s))"
    if kind == "string_too_short":
        return "is empty"
    if kind == "literal_error":
        return f"is not one of: {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        field = next((x for x in reversed(err["loc"]) if isinstance(x, str) and x not in _PLUGIN_TAGS), "component")
        return f"is not a known {field} {_key(ctx.get('discriminator', 'name'))} (valid: {ctx.get('expected_tags')})"
    if kind == "union_tag_not_found":
        return f"has no '{ctx.get('discriminator', 'name').strip(chr(39))}' key"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"][0].lower() + err["msg"][1:]


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The first error of a pydantic ValidationError as `path: value what-is-wrong`."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = tuple(err["loc"])
    if err["type"] == "union_tag_invalid":
        loc = loc + (_key((err.get("ctx") or {}).get("discriminator", "name")),)
        value = (err.get("ctx") or {}).get("tag")
    else:
        value = err.get("input")
    path = format_path(loc)
    if prefix:
        path = f"{prefix}.{path}" if path != "spec" else prefix
    if path == "spec" and err["type"] == "value_error":  # a whole-spec rule: the message names its parts
        return f"{_expected(err)}{'' if len(errors) == 1 else f' (and {len(errors) - 1} more error(s))'}"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    if err["type"] == "missing":
        return f"{path}: required key is missing{more}"
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key (check the spelling; see docs/SPEC.md){more}"
    if err["type"] == "value_error":
        return f"{path}: {_expected(err)}{more}"
    return f"{path}: {show(value)} {_expected(err)}{more}"
