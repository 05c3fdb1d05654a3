"""The schema's ground: the strict base model every block uses, shared number types, schedules."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator



SPEC_NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"  # letters, digits, _ - . (and not only dots: see Spec)
UnitFloat = Annotated[float, Field(gt=0.0, le=1.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


def _accepts_bool(annotation: Any) -> bool:
    """Whether a field's type takes true/false as itself: bool (or Any) somewhere in it, or no number."""
    if annotation is bool or annotation is Any:
        return True
    args = get_args(annotation)
    if not args:
        return annotation not in (int, float)
    if get_origin(annotation) is Literal:
        return any(isinstance(a, bool) for a in args)
    kinds = [a for a in args if not isinstance(a, (int, float, str)) or isinstance(a, type)]
    if get_origin(annotation) is Annotated:
        return _accepts_bool(args[0])
    if get_origin(annotation) in (list, tuple, dict, set):
        return True  # the items are checked as values of their own
    return all(_accepts_bool(a) for a in kinds if a is not type(None)) if kinds else True


def _items_accept_bool(annotation: Any) -> bool:
    """For a list-typed field (or an optional one): whether its items take true/false."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (list, tuple):
        return all(_accepts_bool(item) for item in get_args(annotation) if item is not Ellipsis)
    return all(_items_accept_bool(arg) for arg in get_args(annotation) if get_origin(arg) is not Literal)


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a spec must never be silently ignored. A number is
    never true/false: pydantic would read `lr: true` as 1.0 and `max_session: true` as 1."""

    # allow_inf_nan: JSON's NaN / Infinity (Python's json reads them) are never a valid setting
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bools_for_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(key, str) else None
                if field is None:
                    continue
                if isinstance(value, bool) and not _accepts_bool(field.annotation):
                    raise ValueError(f"{key}: {str(value).lower()} is not a number")
                if isinstance(value, list) and any(isinstance(v, bool) for v in value) and not _items_accept_bool(field.annotation):
                    raise ValueError(f"{key}: {json.dumps(value)} holds true/false where numbers go")
        return data


def non_finite_path(value: Any, where: str = "") -> str | None:
    """The path of the first NaN / Infinity inside `value` (nested dicts and lists), else None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "value"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = non_finite_path(item, f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


# --- schedules and exploration -------------------------------------------------------------


class ScheduleSpec(Strict):
    """A value that changes with frames: exploration epsilon / temperature, entropy coef."""

    name: Literal["no_decay", "linear_decay", "rate_decay"] = "no_decay"
    start_val: float
    end_val: float | None = None
    start_step: NonNegativeInt = 0
    end_step: NonNegativeInt = 0

    @model_validator(mode="after")
    def _check(self) -> "ScheduleSpec":
        if self.name != "no_decay":
            if self.end_val is None:
                raise ValueError(f"end_val is required for a {self.name} schedule")
            if self.end_step <= self.start_step:
                raise ValueError(f"end_step ({self.end_step}) must be greater than start_step ({self.start_step})")
        return self
