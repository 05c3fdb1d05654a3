"""Ray for the lab: start a quiet local Ray or join a cluster (`--ray-address` / RAY_ADDRESS).

Only control/ imports ray, and only inside functions: importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

# environment variables the lab's workers need to see as the driver does
PASSED_ENV = ("SLM_LAB_CACHE_DIR",)
QUIET_RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage-stats prompt or upload
    "RAY_AIR_NEW_OUTPUT": "0",  # with verbose=0 the legacy reporter prints nothing
}


def ray_address(cli_address: str | None) -> str | None:
    """--ray-address, else $RAY_ADDRESS; None means: start Ray here."""
    return cli_address or os.environ.get("RAY_ADDRESS") or None


def quiet_ray_env(address: str | None) -> None:
    """Ray's settings by environment: call before ray is first imported (it reads some only then)."""
    for key, value in QUIET_RAY_ENV.items():
        os.environ.setdefault(key, value)
    if not address:
        # token auth stays on for the local Ray; naming the mode only silences Ray's notice about it
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _use_local_token() -> None:
    """Join a token-authenticated cluster (Ray's default for `ray start`) the way Ray's own CLI
    does (`ray status --address`): with the token found on this machine, unless RAY_AUTH_MODE
    says otherwise. `ray.init` alone does not do this for an explicit address."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # another Ray version: RAY_AUTH_MODE=token must be set by hand
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def check_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """A `host:port` address must answer before anything is written (Ray itself retries for a minute)."""
    if not address or "://" in address or address in ("auto", "local"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SpecError(f"--ray-address '{address}' is not host:port (like 127.0.0.1:6379)")
    import socket

    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise SpecError(f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                        "`ray start --head --port PORT` or leave out --ray-address / RAY_ADDRESS") from None


def start_ray(address: str | None, exp_dir: Path) -> bool:
    """Start a quiet local Ray with this machine's CPUs, or join the cluster at `address`.

    Returns False when Ray was already running in this process (its owner shuts it down).
    """
    quiet_ray_env(address)
    import ray

    if ray.is_initialized():
        return False
    # relative paths in a spec (entry-point envs) keep meaning the driver's working directory
    common: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING,
                              "runtime_env": {"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}}}
    if address:
        _use_local_token()
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SpecError(f"cannot join the Ray cluster at {address}: {str(e).splitlines()[0]}") from None
        logger.info(f"joined the Ray cluster at {address}")
    else:
        ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False, **common)
        from slm_lab.lib import pids

        pids.register_ray_processes(exp_dir)  # so `slm-lab kill` can stop them if this run dies
        logger.info(f"started a local Ray with {os.cpu_count()} CPUs")
    return True


def worker_env() -> dict[str, str]:
    """The driver's environment variables a trial worker must see (absolute paths: workers may start elsewhere)."""
    return {k: str(Path(os.environ[k]).resolve()) for k in PASSED_ENV if os.environ.get(k)}
