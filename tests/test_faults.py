"""The fault sweep (issue 16): bad inputs and fault conditions, each answered with one line.

Every case runs the CLI in-process (as `sys.exit(app())` does) and asserts the exit status,
exactly one `error:` line on stderr and no traceback, and that nothing was left in the data
dir. Full disk is a small tmpfs when the tests run as root (else ENOSPC is injected into
mkdir and file writes); a read-only data dir is a read-only tmpfs (root ignores file modes),
else a folder without write permission. docs/OPERATIONS.md records the figures.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pickle
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file
from test_bad_input import SLM_LAB, run_cli


def good_raw(**changes: Any) -> dict[str, Any]:
    raw = tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                    env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
                    meta={"max_session": 1, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 1})
    raw.update(changes)
    return raw


def _set(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node: Any = raw
    keys = dotted.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value
    return raw


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def assert_one_error(code: int, err: str, expected_code: int, fragment: str) -> None:
    assert code == expected_code, f"exit {code}, expected {expected_code}: {err}"
    assert "Traceback" not in err and "Warning" not in err, err
    errors = [ln for ln in err.strip().splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, err
    assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


def assert_one_line(code: int, err: str, expected_code: int, fragment: str) -> None:
    """A fault found before anything ran: the error line is the whole of stderr."""
    assert_one_error(code, err, expected_code, fragment)
    assert len(err.strip().splitlines()) == 1, err


# --- bad specs: names, non-finite numbers, sizes that cannot fit, absurd nesting --------------

BAD_NAMES = ["../../escape", "a/b", "..", ".", "...", "a\\b", "name with space", "tab\there", "/abs",
             "semi;colon", "ünïcode/../x"]
# (file edits, or -s overrides), the fragment of the one line
NON_FINITE: dict[str, tuple[Callable[[dict], dict] | list[str], str]] = {
    "gamma NaN in file": (lambda r: _set(r, "agent.0.algorithm.gamma", float("nan")), "agent[0].algorithm.gamma"),
    "lr Infinity in file": (lambda r: _set(r, "agent.0.net.optim_spec", {"name": "Adam", "lr": float("inf")}), "lr"),
    "-Infinity in env kwargs": (lambda r: _set(r, "env.0.kwargs", {"x": float("-inf")}), "env[0].kwargs.x"),
    "NaN in a search range": (lambda r: _set(r, "search", {"agent.0.algorithm.gamma__uniform": [0.9, float("nan")]}), "search"),
    "NaN in spec_params": (lambda r: _set(r, "spec_params", {"g": [float("nan")]}), "spec_params"),
    "lr=Infinity override": (["-s", "agent.0.net.optim_spec.lr=Infinity"], "NaN / Infinity"),
    "gamma=NaN override": (["-s", "agent.0.algorithm.gamma=NaN"], "NaN / Infinity"),
    "max_frame=Infinity override": (["-s", "env.0.max_frame=Infinity"], "env[0].max_frame"),
    "entropy -Infinity override": (["-s", "agent.0.algorithm.entropy_coef_spec.start_val=-Infinity"], "NaN / Infinity"),
}
TOO_BIG: dict[str, Callable[[dict], dict]] = {
    "replay max_size 10**15": lambda r: {**r, "agent": [{**r["agent"][0], "algorithm": {"name": "DQN"},
                                                          "memory": {"name": "Replay", "max_size": 10 ** 15}}]},
    "hid_layers 10**8 x 10**8": lambda r: _set(r, "agent.0.net.hid_layers", [100_000_000, 100_000_000]),
    "256 sessions of 10**11 rows": lambda r: _set({**r, "agent": [{**r["agent"][0], "algorithm": {"name": "DQN"},
                                                                   "memory": {"name": "Replay", "max_size": 10 ** 11}}]},
                                                  "meta.max_session", 256),
}


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_spec_name_that_is_not_a_name(name: str, command: str, tmp_path: Path, isolated_dirs: Path,
                                        capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {name: good_raw()})
    args = ["run", str(spec_file), name, "train"] if command == "run" else ["check", str(spec_file)]
    code, _, err = run_cli(args, capsys)
    assert_one_line(code, err, 2, "is not a name")
    assert tree(isolated_dirs) == [] and not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("case", list(NON_FINITE))
def test_a_non_finite_number(case: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    edit, fragment = NON_FINITE[case]
    raw = good_raw() if isinstance(edit, list) else edit(good_raw())
    spec_file = tmp_path / "s.json"
    spec_file.write_text(json.dumps({"s": raw}))  # Python's json writes NaN / Infinity, as a careless tool would
    code, _, err = run_cli(["run", str(spec_file), "s", "train", *(edit if isinstance(edit, list) else [])], capsys)
    assert_one_line(code, err, 2, fragment)
    if not isinstance(edit, list):
        code, _, err = run_cli(["check", str(spec_file)], capsys)
        assert_one_line(code, err, 2, fragment)
    assert tree(isolated_dirs) == []


@pytest.mark.parametrize("case", list(TOO_BIG))
def test_a_spec_that_cannot_fit_this_machine(case: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {"big": TOO_BIG[case](good_raw())})
    code, _, err = run_cli(["run", str(spec_file), "big", "train"], capsys)
    assert_one_line(code, err, 2, "of memory")
    assert "this machine has" in err
    assert tree(isolated_dirs) == []


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("shape", ["lists", "objects"])
def test_json_nested_200k_deep(command: str, shape: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    spec_file = tmp_path / "deep.json"
    depth = 200_000
    spec_file.write_text("[" * depth + "]" * depth if shape == "lists" else '{"a":' * depth + "1" + "}" * depth)
    args = ["run", str(spec_file), "a", "train"] if command == "run" else ["check", str(spec_file)]
    code, _, err = run_cli(args, capsys)
    assert_one_line(code, err, 2, "nested too deeply")
    assert tree(isolated_dirs) == []


# --- bad checkpoints for enjoy ---------------------------------------------------------------


class _Trap:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _agent_state() -> dict[str, Any]:
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.spec.loader import validate

    spec = validate({**good_raw(), "name": "ok"})
    return AgentSpace(spec, EnvSpace(spec, 0), 0).agents[0].state_dict()


def _write_checkpoint(kind: str, path: Path, marker: Path) -> None:
    import numpy as np
    import torch

    if kind == "other spec's nets":
        state = _agent_state()
        state["nets"] = {k: {p: torch.zeros(3, 3) for p in v} for k, v in state["nets"].items()}
        torch.save(state, path)
    elif kind == "nets missing a weight":
        state = _agent_state()
        net = next(iter(state["nets"]))
        state["nets"][net] = dict(list(state["nets"][net].items())[1:])
        torch.save(state, path)
    elif kind == "nets of another name":
        torch.save({**_agent_state(), "nets": {"nope": {}}}, path)
    elif kind == "no nets key":
        torch.save({"frame": 3, "x": torch.zeros(2)}, path)
    elif kind == "nets is a list":
        torch.save({"nets": [torch.zeros(2)]}, path)
    elif kind == "a bare tensor":
        torch.save(torch.zeros(4), path)
    elif kind == "malicious zip pickle":
        torch.save({"nets": {"n": _Trap(str(marker))}}, path)
    elif kind == "malicious plain pickle":
        path.write_bytes(pickle.dumps({"nets": _Trap(str(marker))}, protocol=4))
    elif kind == "malicious legacy torch":
        torch.save({"nets": _Trap(str(marker))}, path, _use_new_zipfile_serialization=False)
    elif kind == "truncated":
        buf = path.with_suffix(".full")
        torch.save(_agent_state(), buf)
        path.write_bytes(buf.read_bytes()[:300])
        buf.unlink()
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "numpy file":
        with open(path, "wb") as f:
            np.save(f, np.zeros(3))
    elif kind == "text":
        path.write_text("hello")
    else:  # pragma: no cover
        raise KeyError(kind)


BAD_CHECKPOINTS = {
    "other spec's nets": "builds", "nets missing a weight": "missing", "nets of another name": "no weights for net",
    "no nets key": "not a model checkpoint", "nets is a list": "not a model checkpoint", "a bare tensor": "not a model checkpoint",
    "malicious zip pickle": "refused", "malicious plain pickle": "not a readable checkpoint",
    "malicious legacy torch": "refused", "truncated": "not a readable checkpoint",
    "empty file": "not a readable checkpoint", "numpy file": "not a readable checkpoint", "text": "not a readable checkpoint",
}


@pytest.mark.parametrize("kind", list(BAD_CHECKPOINTS))
def test_enjoy_a_bad_best_pt(kind: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    session = tmp_path / "run" / "session_0"
    (session / "model").mkdir(parents=True)
    marker = tmp_path / "pwned"
    _write_checkpoint(kind, session / "model" / "best.pt", marker)
    before = tree(tmp_path / "run")
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": good_raw()})
    code, _, err = run_cli(["run", str(spec_file), "ok", f"enjoy@{session}"], capsys)
    assert_one_line(code, err, 2, BAD_CHECKPOINTS[kind])
    assert not marker.exists() and tree(tmp_path / "run") == before and tree(isolated_dirs) == []


# --- the data dir: full, read-only, not a folder ----------------------------------------------


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[bool]:
    """A small tmpfs at `where` (True), or False where this process may not mount one."""
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield False
        return
    opts = f"size={size}" + (",ro" if read_only else "")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True).returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill_disk(where: Path) -> None:
    with contextlib.suppress(OSError), open(where / "filler", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


@contextlib.contextmanager
def full_disk(data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with mounted_tmpfs(data, "256k") as real:
        if real:
            _fill_disk(data)
        else:  # ENOSPC injected: the first folder or file the lab makes fails as a full disk fails
            def no_space(*args: Any, **kwargs: Any) -> Any:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            monkeypatch.setattr("slm_lab.lib.io.tempfile.mkstemp", no_space)
        yield


@contextlib.contextmanager
def read_only(data: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`data` read-only with its content: a read-only bind mount as root, else no write permission."""
    bound = os.geteuid() == 0 and subprocess.run(["mount", "--bind", str(data), str(data)], capture_output=True).returncode == 0
    if bound:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(data)], check=True, capture_output=True)
    else:
        for folder in [data, *[p for p in data.rglob("*") if p.is_dir()]]:
            folder.chmod(0o555)
    try:
        yield
    finally:
        if bound:
            subprocess.run(["umount", "-l", str(data)], capture_output=True)
        else:
            for folder in [data, *[p for p in data.rglob("*") if p.is_dir()]]:
                folder.chmod(0o755)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short finished run of spec 'ok' (made once): resumed and replayed by the cases below."""
    root = tmp_path_factory.mktemp("finished")
    spec_file = write_spec_file(root / "s.json", {"ok": good_raw()})
    env = {**os.environ, "SLM_LAB_DATA_DIR": str(root / "data"), "SLM_LAB_CACHE_DIR": str(root / "cache")}
    result = subprocess.run([SLM_LAB, "run", str(spec_file), "ok", "train"], env=env, capture_output=True, text=True,
                            timeout=PROGRESS_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    return next(p for p in (root / "data").iterdir() if p.is_dir())  # the data dir also holds plotly.js


def _copy_run(finished_run: Path, data: Path) -> Path:
    import shutil

    data.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(finished_run, data / finished_run.name))


DATA_DIR_FAULTS = {
    "full disk: train": (full_disk, "train", "free some disk space"),
    "full disk: dev": (full_disk, "dev", "free some disk space"),
    "read-only data dir: train": (read_only, "train", "point SLM_LAB_DATA_DIR at a"),
    "read-only data dir: dev": (read_only, "dev", "point SLM_LAB_DATA_DIR at a"),
    "read-only data dir: search": (read_only, "search", "point SLM_LAB_DATA_DIR at a"),
}


@pytest.mark.parametrize("case", list(DATA_DIR_FAULTS))
def test_a_data_dir_that_cannot_take_a_run(case: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch):
    fault, mode, fragment = DATA_DIR_FAULTS[case]
    raw = good_raw(search={"agent.0.algorithm.gamma__uniform": [0.9, 0.99]}) if mode == "search" else good_raw()
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": raw})
    isolated_dirs.mkdir()
    with fault(isolated_dirs, monkeypatch):
        before = tree(isolated_dirs)
        code, _, err = run_cli(["run", str(spec_file), "ok", mode], capsys)
        after = tree(isolated_dirs)
    assert_one_line(code, err, 1, fragment)  # the input is fine; the machine refused the write
    assert after == before  # no folder holding only a lock and an empty log


def test_a_data_dir_that_is_a_file(tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    isolated_dirs.write_text("not a folder")
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": good_raw()})
    code, _, err = run_cli(["run", str(spec_file), "ok", "train"], capsys)
    assert_one_line(code, err, 1, "cannot write to")
    assert isolated_dirs.read_text() == "not a folder"


RUN_FAULTS = {
    "read-only data dir: train@": (read_only, ["train@{run}"], "point SLM_LAB_DATA_DIR at a"),
    "read-only data dir: enjoy --record": (read_only, ["enjoy@{run}/session_0", "--record"], "point SLM_LAB_DATA_DIR at a"),
    "full disk: train@": (full_disk, ["train@{run}", "-s", "env.0.max_frame=800"], "free some disk space"),
}


def _bad_memory(kind: str, path: Path) -> None:
    import numpy as np

    if kind == "garbage":
        path.write_bytes(b"PK\x03\x04 not really a zip")
    elif kind == "truncated":
        with open(path, "wb") as f:
            np.savez(f, states=np.zeros((64, 4), np.float32), actions=np.zeros(64))
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "object array":  # a pickle inside: never loaded
        with open(path, "wb") as f:
            np.savez(f, states=np.array([{"x": 1}], dtype=object))


@pytest.mark.parametrize("kind", ["garbage", "truncated", "object array"])
def test_resume_with_a_bad_memory_npz(kind: str, finished_run: Path, tmp_path: Path, isolated_dirs: Path,
                                      capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": good_raw()})
    run = _copy_run(finished_run, isolated_dirs)
    _bad_memory(kind, run / "session_0" / "model" / "memory_a0_f400.npz")
    before = tree(run)
    code, _, err = run_cli(["run", str(spec_file), "ok", f"train@{run}", "-s", "env.0.max_frame=800"], capsys)
    assert_one_line(code, err, 2, "not a readable replay memory")
    assert tree(run) == before


def _bad_session_checkpoint(kind: str, path: Path, marker: Path) -> None:
    import torch

    from slm_lab.control.checkpoint import load_checkpoint

    good = load_checkpoint(path)
    if kind == "no version":
        torch.save({k: v for k, v in good.items() if k != "version"}, path)
    elif kind == "no frame":  # passes the version check, then a resume would die on KeyError: 'frame'
        torch.save({k: v for k, v in good.items() if k != "frame"}, path)
    elif kind == "two agents for one":
        torch.save({**good, "agents": good["agents"] * 2}, path)
    elif kind == "nets of another shape":
        agent = dict(good["agents"][0])
        agent["nets"] = {k: {p: torch.zeros(7) for p in v} for k, v in agent["nets"].items()}
        torch.save({**good, "agents": [agent]}, path)
    elif kind == "a model file instead":
        torch.save(good["agents"][0], path)
    elif kind == "malicious":
        torch.save({"version": 1, "frame": _Trap(str(marker))}, path)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:500])


BAD_SESSION_CHECKPOINTS = {
    "no version": "not a checkpoint this version", "no frame": "no frame", "two agents for one": "holds 2 agent(s)",
    "nets of another shape": "agent 0:", "a model file instead": "not a checkpoint this version",
    "malicious": "refused", "truncated": "not a readable checkpoint",
}


@pytest.mark.parametrize("kind", list(BAD_SESSION_CHECKPOINTS))
def test_resume_from_a_bad_checkpoint_pt(kind: str, finished_run: Path, tmp_path: Path, isolated_dirs: Path,
                                         capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": good_raw()})
    run = _copy_run(finished_run, isolated_dirs)
    marker = tmp_path / "pwned"
    _bad_session_checkpoint(kind, run / "session_0" / "model" / "checkpoint.pt", marker)
    before = tree(run)
    code, _, err = run_cli(["run", str(spec_file), "ok", f"train@{run}", "-s", "env.0.max_frame=800"], capsys)
    assert_one_line(code, err, 2, BAD_SESSION_CHECKPOINTS[kind])
    assert tree(run) == before and not marker.exists()


@pytest.mark.parametrize("case", list(RUN_FAULTS))
def test_a_run_folder_that_cannot_be_written(case: str, finished_run: Path, tmp_path: Path, isolated_dirs: Path,
                                             capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    fault, mode_args, fragment = RUN_FAULTS[case]
    spec_file = write_spec_file(tmp_path / "s.json", {"ok": good_raw()})
    run = _copy_run(finished_run, isolated_dirs)
    if fault is full_disk:  # the run on a full disk of its own
        run = isolated_dirs / "disk" / run.name
        with mounted_tmpfs(isolated_dirs / "disk", "40m") as real:
            if not real:
                pytest.skip("no tmpfs here to fill")
            _copy_run(finished_run, isolated_dirs / "disk")
            _fill_disk(run.parent)
            before = tree(run)
            code, _, err = run_cli(["run", str(spec_file), "ok", *[a.replace("{run}", str(run)) for a in mode_args]], capsys)
            after = tree(run)
    else:
        with fault(isolated_dirs, monkeypatch):
            before = tree(run)
            code, _, err = run_cli(["run", str(spec_file), "ok", *[a.replace("{run}", str(run)) for a in mode_args]], capsys)
            after = tree(run)
    assert_one_line(code, err, 1, fragment)
    assert after == before


# --- envs that raise -----------------------------------------------------------------------


def test_an_env_that_raises_while_its_baseline_is_measured(tmp_path: Path, isolated_dirs: Path,
                                                           capsys: pytest.CaptureFixture):
    spec_file = write_spec_file(tmp_path / "s.json", {"bad": good_raw(env=[{"name": "raising_env:BrokenStepCartPole",
                                                                             "num_envs": 1, "max_frame": 400}])})
    code, _, err = run_cli(["run", str(spec_file), "bad", "train"], capsys)
    assert_one_error(code, err, 2, "failed while its random-policy baseline was measured")
    assert "fix the env" in err
    assert tree(isolated_dirs) == []  # the run folder made for it is gone again


def test_the_sweep_is_wide():
    cases = (len(BAD_NAMES) * 2 + len(NON_FINITE) + len(TOO_BIG) + 4 + len(BAD_CHECKPOINTS)
             + len(DATA_DIR_FAULTS) + len(RUN_FAULTS) + 3 + len(BAD_SESSION_CHECKPOINTS) + 2)
    assert cases >= 60, cases
