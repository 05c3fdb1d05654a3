"""User settings (`config/default.json`) and the lab's own folders outside a run.

`config/default.json` (or `$SLM_LAB_CONFIG`) holds settings that belong to a machine, not
to a spec: where `slm-lab sync` copies runs to and how often `--watch` copies. It is
created with the defaults below the first time a command reads it, so a user can see and
edit every setting. Kept free of heavy imports: the CLI reads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from slm_lab.spec.errors import SpecError, read_json_input

CONFIG_ENV = "SLM_LAB_CONFIG"
DEFAULT_CONFIG_FILE = Path("config/default.json")
CACHE_DIR_ENV = "SLM_LAB_CACHE_DIR"

# every key a user may set; a key not listed here is a typo and an error
DEFAULTS: dict[str, Any] = {
    # folder `slm-lab sync` copies data/ into (a mounted drive, a synced folder); null = not set
    "data_sync_dir": None,
    # seconds between copies with `slm-lab sync --watch`
    "sync_interval_s": 60,
}


def config_path() -> Path:
    """`$SLM_LAB_CONFIG`, else `config/default.json` under the current folder."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


def _check(config: dict[str, Any], path: Path) -> dict[str, Any]:
    for key in config:
        if key not in DEFAULTS:
            raise SpecError(f"{path}: unknown key '{key}' (valid: {', '.join(DEFAULTS)})")
    out = {**DEFAULTS, **config}
    sync_dir = out["data_sync_dir"]
    if sync_dir is not None and (not isinstance(sync_dir, str) or not sync_dir.strip()):
        raise SpecError(f"{path}: data_sync_dir: {json.dumps(sync_dir)} is not a folder path (or null)")
    interval = out["sync_interval_s"]
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
        raise SpecError(f"{path}: sync_interval_s: {json.dumps(interval)} is not a positive number of seconds")
    return out


def load_config(create: bool = True) -> dict[str, Any]:
    """The user's settings merged over the defaults; writes the defaults file on first use."""
    path = config_path()
    if not path.exists():
        if create:
            from slm_lab.lib import io

            io.write_json(path, DEFAULTS)
        return dict(DEFAULTS)
    data = read_json_input(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected an object of settings, like {json.dumps(DEFAULTS)}")
    return _check(data, path)


def cache_dir() -> Path:
    """The lab's cache: `$SLM_LAB_CACHE_DIR`, else `$XDG_CACHE_HOME/slm_lab`, else `~/.cache/slm_lab`."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "slm_lab"


def unity_cache_dir() -> Path:
    """Downloaded Unity env binaries (`slm-lab clear --unity` empties it)."""
    return cache_dir() / "unity"


def run_state_dir() -> Path:
    """Pid files of running lab processes (see lib/pids.py): state of this machine, not of a run."""
    return cache_dir() / "run"
