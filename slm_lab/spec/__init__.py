"""Specs: the schema, loading with overrides and placeholders, and the shipped spec files."""

from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_file, load_spec

__all__ = ["SpecError", "check_file", "load_spec"]
