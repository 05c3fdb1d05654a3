"""Safety: checkpoints never unpickle objects, spec values are never run as code, and the
sockets the lab opens listen on loopback (or are Unix sockets) only."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import REPO, tiny_spec, write_spec_file
from slm_lab.control.session import load_checkpoint
from slm_lab.spec.errors import SpecError

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


class _Trap:
    """What a malicious checkpoint holds: unpickling it would create `path` (runs `open(path, "w")`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def good_raw(**meta) -> dict:
    return tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 400},
                     meta={"max_session": 1, "log_frequency": 200, "eval_frequency": 200, "eval_episodes": 1, **meta})


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, env=env or os.environ.copy(), timeout=PROGRESS_TIMEOUT_S)


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, isolated_dirs: Path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"nets": {"net": _Trap(marker)}}, evil)
    with pytest.raises(SpecError, match="refused: it would load"):
        load_checkpoint(evil)
    spec_file = write_spec_file(tmp_path / "spec.json", {"ok": good_raw()})
    result = cli("run", str(spec_file), "ok", f"enjoy@{evil}")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "refused" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()

    # the same file planted as a run's resume checkpoint: refused before anything runs
    run_dir = isolated_dirs / "ok_2024_01_01_000000"
    (run_dir / "session_0" / "model").mkdir(parents=True)
    (run_dir / "spec.json").write_text(json.dumps({**good_raw(), "name": "ok"}))
    (run_dir / "session_0" / "model" / "checkpoint.pt").write_bytes(evil.read_bytes())
    result = cli("run", str(spec_file), "ok", "train@latest")
    assert result.returncode == 2 and "refused" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    assert sorted(p.name for p in run_dir.rglob("*")) == ["checkpoint.pt", "model", "session_0", "spec.json"]


def test_a_real_run_keeps_spec_values_as_data_and_opens_only_local_sockets(tmp_path: Path, isolated_dirs: Path):
    """One real 2-session run (spawned sessions and their multiprocessing manager) whose spec
    carries code in its values, with every socket bind of every process recorded by a
    sitecustomize hook."""
    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    raw = good_raw(max_session=2)
    raw["agent"][0]["name"] = code  # a free label: accepted, and kept as the string it is
    raw["env"][0]["name"] = "${env}"
    spec_file = write_spec_file(tmp_path / "spec.json", {"ok": raw})
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SOCKET_HOOK)
    log = tmp_path / "binds.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook_dir), os.environ.get("PYTHONPATH", "")]),
           "SLM_TEST_BIND_LOG": str(log)}
    result = cli("run", str(spec_file), "ok", "train", "--var", "env=CartPole-v1",
                 "-s", f"meta.resolved={json.dumps({'x': code})}", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads(next(p for p in isolated_dirs.iterdir() if p.is_dir()).joinpath("spec.json").read_text())
    assert saved["agent"][0]["name"] == code and saved["meta"]["resolved"]["x"] == code
    assert not marker.exists()

    binds = [line.split(" ", 1) for line in log.read_text().splitlines()]
    assert binds, "the hook saw no bind at all (the manager binds one): the check would prove nothing"
    for family, address in binds:
        family, address = int(family), ast.literal_eval(address)
        if family == socket.AF_UNIX:
            continue
        host = address[0]
        assert host in ("127.0.0.1", "::1", "localhost") or host.startswith("127."), f"bound to {address}"


def test_code_in_a_spec_value_is_refused_as_data(tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    from slm_lab.cli import app

    marker = tmp_path / "pwned"
    code = f"__import__('os').system('touch {marker}')"
    raw = good_raw()
    raw["env"][0]["name"] = "${env}"
    spec_file = write_spec_file(tmp_path / "spec.json", {"ok": raw})
    # code where a name, a number or a placeholder value is expected: refused as what it is, a string
    for args in ([str(spec_file), "ok", "train", "--var", f"env={code}"],
                 [str(spec_file), "ok", "train", "--var", "env=CartPole-v1", "-s", f"meta.seed={code}"],
                 [str(spec_file), "ok", "train", "--var", "env=CartPole-v1", "-s", f"agent.0.algorithm.name={code}"],
                 [str(spec_file), "ok", f"enjoy@{code}", "--var", "env=CartPole-v1"]):
        code_ = app(args=["run", *args], prog_name="slm-lab")  # in-process, as the console script runs it
        err = capsys.readouterr().err
        assert code_ == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert not marker.exists() and not isolated_dirs.exists()


# calls that would run or unpickle data as code; the lab's source must have none
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def test_the_source_never_evaluates_or_unpickles():
    problems = []
    for path in sorted((REPO / "slm_lab").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            kwargs = {k.arg: k.value for k in node.keywords}
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            if isinstance(func, ast.Name) and name in FORBIDDEN_CALLS:
                problems.append(f"{where}: {name}()")
            if owner in ("pickle", "cPickle", "dill", "marshal", "shelve") and name in ("load", "loads", "open"):
                problems.append(f"{where}: {owner}.{name}()")
            if owner == "yaml" and name in ("load", "unsafe_load", "full_load"):
                problems.append(f"{where}: yaml.{name}()")
            if owner == "torch" and name == "load":
                weights_only = kwargs.get("weights_only")
                if not (isinstance(weights_only, ast.Constant) and weights_only.value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
            allow = kwargs.get("allow_pickle")
            if owner == "np" and name == "load" and not (isinstance(allow, ast.Constant) and allow.value is False):
                problems.append(f"{where}: np.load without allow_pickle=False")
    assert not problems, problems


SOCKET_HOOK = '''
import os, socket
_bind = socket.socket.bind
def bind(self, address):
    with open(os.environ["SLM_TEST_BIND_LOG"], "a") as f:
        f.write(f"{int(self.family)} {address!r}\\n")
    return _bind(self, address)
socket.socket.bind = bind
'''
