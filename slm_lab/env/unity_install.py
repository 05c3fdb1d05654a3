"""Install the Unity SLM-Env binaries from the npm registry into the lab's cache folder.

The prebuilt players (Unity 2017.2, ml-agents "API-2" socket protocol) are published as the
npm packages `slm-env-<name>`. `install(name)` runs `npm pack` (npm verifies the tarball's
integrity against the registry), unpacks only what a Linux x86_64 host needs — the
`.x86_64` player and its `_Data` folder, about a third of the package — into
`<cache>/unity/<name>/` (`slm_lab.lib.config.unity_cache_dir`), and marks the player executable.

Atomic and idempotent: the package is unpacked into a temp folder beside the target and
renamed into place only when complete, so an interrupted install leaves nothing half-made,
and a second call finds the finished folder and returns at once.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from slm_lab.lib.config import unity_cache_dir
from slm_lab.spec.errors import SpecError

PACKAGE_VERSION = "2.0.0"
# env name -> npm package; all three are published at PACKAGE_VERSION
UNITY_ENVS: dict[str, str] = {
    "3dball": "slm-env-3dball",
    "gridworld": "slm-env-gridworld",
    "tennis": "slm-env-tennis",
}
NPM_TIMEOUT_S = 600.0

# env.kwargs keys that configure the lab's adapter rather than the Unity academy; every other
# key is an academy reset parameter (a number). Checked here, where the spec loader can reach
# them without importing the adapter, so `slm-lab check` reports mistakes instantly.
ADAPTER_KWARGS = ("brain", "action_size", "court_relative")
COURT_RELATIVE_ENVS = ("tennis",)  # court_relative is defined for these envs, and on by default


@dataclass(frozen=True)
class UnityOptions:
    brain: str | None  # the controlled brain; None = the first external brain
    action_size: int | None  # a discrete action count used instead of the brain's declared one
    court_relative: bool  # tennis: positions relative to each body's own net (see slm_lab/env/unity.py)
    reset_params: dict[str, float]


def unity_options(name: str, kwargs: dict) -> UnityOptions:
    """Split a Unity env's `kwargs` into the adapter's options and the reset parameters,
    checking their types (SpecError). `name` is the Unity env name (`tennis`)."""
    brain = kwargs.get("brain")
    if brain is not None and not isinstance(brain, str):
        raise SpecError(f"env.kwargs.brain: {brain!r} is not a brain name")
    action_size = kwargs.get("action_size")
    if action_size is not None and (isinstance(action_size, bool) or not isinstance(action_size, int) or action_size < 1):
        raise SpecError(f"env.kwargs.action_size: {action_size!r} is not a positive integer")
    court = kwargs.get("court_relative")
    if court is not None and not isinstance(court, bool):
        raise SpecError(f"env.kwargs.court_relative: {court!r} is not true or false")
    if court and name not in COURT_RELATIVE_ENVS:
        raise SpecError(f"env.kwargs.court_relative: only for {', '.join('unity:' + n for n in COURT_RELATIVE_ENVS)}, not unity:{name}")
    params: dict[str, float] = {}
    for key, value in kwargs.items():
        if key in ADAPTER_KWARGS:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(f"env.kwargs.{key}: {value!r} is not a number (Unity reset parameters are numbers)")
        params[key] = float(value)
    default_court = name in COURT_RELATIVE_ENVS
    return UnityOptions(brain, action_size, default_court if court is None else court, params)


MARKER = ".installed"  # written last inside the staging folder: a folder without it is not an install


class InstallError(RuntimeError):
    """npm failed or the package did not hold what it should (not a user's spec mistake)."""


def check_name(name: str) -> str:
    """The name if it is a known Unity env, else a SpecError listing the known ones."""
    if name not in UNITY_ENVS:
        raise SpecError(f"unknown Unity env {name!r} (known: {', '.join(UNITY_ENVS)})")
    return name


def install_dir(name: str) -> Path:
    """`<cache>/unity/<name>/` (the lab's cache: `$SLM_LAB_CACHE_DIR`, else `~/.cache/slm_lab`)."""
    return unity_cache_dir() / check_name(name)


def binary_path(name: str) -> Path:
    """Where the player of `name` lives once installed (it may not exist yet)."""
    return install_dir(name) / "build" / f"{name}.x86_64"


def is_installed(name: str) -> bool:
    path = binary_path(name)
    return (install_dir(name) / MARKER).is_file() and path.is_file() and os.access(path, os.X_OK)


def _wanted(member_name: str, name: str) -> str | None:
    """The path inside the install folder for a tarball member, or None to skip it.

    npm tarballs put everything under `package/`; keep the metadata, the 64-bit player and
    its data folder, and drop the 32-bit player and the macOS bundle nobody here can run.
    """
    parts = Path(member_name).parts
    if len(parts) < 2 or parts[0] != "package":
        return None
    rel = Path(*parts[1:])
    if rel.parts[0] in ("package.json", "LICENSE", "README.md"):
        return str(rel)
    if len(rel.parts) >= 2 and rel.parts[0] == "build":
        if rel.parts[1] == f"{name}.x86_64" or rel.parts[1] == f"{name}_Data":
            return str(rel)
    return None


def _extract(tgz: Path, dest: Path, name: str) -> None:
    """Unpack the wanted members of `tgz` into `dest`, refusing any path outside it."""
    dest_resolved = dest.resolve()
    with tarfile.open(tgz, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            rel = _wanted(member.name, name)
            if rel is None:
                continue
            target = (dest_resolved / rel).resolve()
            # a crafted `package/build/../../x` must never land outside the install folder
            if dest_resolved not in target.parents:
                raise InstallError(f"{tgz.name}: member {member.name!r} points outside the install folder")
            member.name = rel
            members.append(member)
        # the "data" filter also rejects absolute paths, links leaving dest and device files
        tar.extractall(dest, members=members, filter="data")


def _npm_pack(package: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise InstallError("npm is not on PATH: install Node.js (npm) to fetch the Unity SLM-Env binaries")
    spec = f"{package}@{PACKAGE_VERSION}"
    try:
        proc = subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(dest), "--silent"],
            cwd=dest, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise InstallError(f"npm pack {spec} took longer than {NPM_TIMEOUT_S:.0f} s") from None
    tarballs = sorted(dest.glob("*.tgz"))
    if proc.returncode != 0 or len(tarballs) != 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise InstallError(f"npm pack {spec} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return tarballs[0]


def install(name: str, force: bool = False) -> Path:
    """Fetch and unpack Unity env `name` (3dball, gridworld, tennis); return its player's path.

    Instant when already installed (unless `force`). Raises SpecError for an unknown name,
    InstallError when npm or the package fails.
    """
    check_name(name)
    final = install_dir(name)
    if is_installed(name) and not force:
        return binary_path(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=final.parent))
    try:
        download = staging / "download"
        download.mkdir()
        tgz = _npm_pack(UNITY_ENVS[name], download)
        tree = staging / "tree"
        tree.mkdir()
        _extract(tgz, tree, name)
        player = tree / "build" / f"{name}.x86_64"
        if not player.is_file() or not (tree / "build" / f"{name}_Data").is_dir():
            raise InstallError(f"{tgz.name} has no build/{name}.x86_64 beside build/{name}_Data")
        player.chmod(player.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        (tree / MARKER).write_text(f"{UNITY_ENVS[name]}@{PACKAGE_VERSION}\n", encoding="utf-8")
        # swap into place: a concurrent installer may have won the race; keep theirs then
        old = None
        if final.exists():
            old = final.with_name(f".{name}.old.{os.getpid()}")
            final.rename(old)
        try:
            tree.rename(final)
        except OSError:
            if not is_installed(name):
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return binary_path(name)


def installed() -> dict[str, Path | None]:
    """Each known env -> its player path when installed, else None."""
    return {name: binary_path(name) if is_installed(name) else None for name in UNITY_ENVS}
