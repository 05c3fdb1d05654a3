"""Jobs: the schedule in config/experiments.json, `{spec_file: {spec_name: mode}}`, run in order.

A mode is any mode of `slm-lab run` (dev, train, search, benchmark, ...); every job is
validated before the first one starts, and each prints its own summary when it ends."""

from __future__ import annotations

from pathlib import Path

from slm_lab.spec.errors import SpecError, read_json_input

DEFAULT_JOBS_FILE = Path("config/experiments.json")


def read_jobs(path: Path = DEFAULT_JOBS_FILE) -> list[tuple[str, str, str]]:
    """[(spec_file, spec_name, mode), ...] in file order."""
    if not path.is_file():
        raise SpecError(f"no arguments given and no job file at {path} (write {{\"spec.json\": {{\"name\": \"train\"}}}} there)")
    data = read_json_input(path)
    if not isinstance(data, dict) or not data:
        raise SpecError(f"{path}: expected {{spec_file: {{spec_name: mode}}}}")
    jobs = []
    for spec_file, entries in data.items():
        if not isinstance(entries, dict) or not entries:
            raise SpecError(f"{path}: '{spec_file}' must map spec names to modes")
        for spec_name, mode in entries.items():
            if not isinstance(mode, str):
                raise SpecError(f"{path}: {spec_file}.{spec_name}: mode {mode!r} is not a string")
            jobs.append((spec_file, spec_name, mode))
    return jobs
