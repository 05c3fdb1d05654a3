"""Bad input, swept: every malformed argument or spec value gets one line naming the field or
argument, exit status 2, no traceback, and nothing written under data/.

The sweep calls the CLI in-process (the same `app` the console script runs, so a case costs
milliseconds, not an interpreter start); a few cases also go through the real `slm-lab`
executable to check the console script behaves the same.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from spec_helpers import tiny_spec, write_spec_file

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def good_raw() -> dict[str, Any]:
    return tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000},
                     meta={"max_session": 1, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2})


def edit(path: str, value: Any) -> Callable[[dict], dict]:
    """A spec edit: set the dotted `path` (list indices as numbers) to `value`."""

    def apply(raw: dict) -> dict:
        raw = copy.deepcopy(raw)
        node = raw
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
        node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
        return raw

    return apply


def two_agents(product: str, n_envs: int, custom: Any = None) -> Callable[[dict], dict]:
    def apply(raw: dict) -> dict:
        raw = copy.deepcopy(raw)
        raw["agent"] = [raw["agent"][0], copy.deepcopy(raw["agent"][0])]
        raw["env"] = [copy.deepcopy(raw["env"][0]) for _ in range(n_envs)]
        raw["body"] = {"product": product, **({"custom": custom} if custom is not None else {})}
        return raw

    return apply


# (spec edit, fragment the one-line message must contain: the field it names)
SPEC_CASES: dict[str, tuple[Callable[[dict], dict], str]] = {
    "negative sessions": (edit("meta.max_session", -2), "meta.max_session: -2 is not a positive integer"),
    "sessions as text": (edit("meta.max_session", "four"), "meta.max_session"),
    "zero frame budget": (edit("env.0.max_frame", 0), "env[0].max_frame: 0"),
    "negative frame budget": (edit("env.0.max_frame", -100), "env[0].max_frame: -100"),
    "fractional budget": (edit("env.0.max_frame", 1.5), "env[0].max_frame: 1.5"),
    "unknown algorithm": (edit("agent.0.algorithm.name", "DQNN"), "agent[0].algorithm.name: \"DQNN\" is not a known algorithm"),
    "unknown memory": (edit("agent.0.memory.name", "Replayy"), "agent[0].memory.name: \"Replayy\""),
    "memory unfit for algorithm": (edit("agent.0.memory", {"name": "Replay"}), "memory Replay does not fit algorithm A2C"),
    "unknown gym id": (edit("env.0.name", "CartPol-v1"), "env[0].name: \"CartPol-v1\" is not a registered Gymnasium id"),
    "entry point without class": (edit("env.0.name", "my_envs:"), "env[0].name: \"my_envs:\""),
    "entry point module missing": (edit("env.0.name", "no_such_module_xyz:MyEnv"), "env[0].name: \"no_such_module_xyz:MyEnv\""),
    "unknown net type": (edit("agent.0.net.type", "Transformer"), "agent[0].net.type"),
    "negative layer size": (edit("agent.0.net.hid_layers", [-3]), "agent[0].net.hid_layers[0]: -3"),
    "negative lr": (edit("agent.0.net.optim_spec", {"lr": -1}), "agent[0].net.optim_spec.lr: -1"),
    "gamma above 1": (edit("agent.0.algorithm.gamma", 1.5), "agent[0].algorithm.gamma: 1.5"),
    "unknown top-level key": (edit("agnet", []), "agnet: unknown key"),
    "unknown meta key": (edit("meta.max_sesion", 2), "meta.max_sesion: unknown key"),
    "unknown search kind": (edit("search", {"agent.0.algorithm.gamma__magic": [0.9, 0.99]}), "unknown kind 'magic'"),
    "search range of one number": (edit("search", {"agent.0.algorithm.gamma__uniform": [0.9]}), "agent.0.algorithm.gamma__uniform"),
    "search range upside down": (edit("search", {"agent.0.algorithm.gamma__uniform": [0.99, 0.9]}), "must be less than high"),
    "search path missing": (edit("search", {"agent.0.algorithm.gamm__uniform": [0.9, 0.99]}), "agent.0.algorithm.gamm"),
    "inner product of 2 agents x 3 envs": (two_agents("inner", 3), "body.product 'inner'"),
    "custom product without a list": (two_agents("custom", 2), "body.custom"),
    "custom product naming agent 5": (two_agents("custom", 2, [[5, 0, 0]]), "body.custom"),
    "unknown body product": (edit("body", {"product": "diagonal"}), "body.product: \"diagonal\""),
    "zero bodies": (edit("body", {"num": 0}), "body.num: 0"),
    "zero eval frequency": (edit("meta.eval_frequency", 0), "meta.eval_frequency: 0"),
    "negative seed": (edit("meta.seed", -1), "meta.seed: -1"),
    "num_envs as text": (edit("env.0.num_envs", "two"), "env[0].num_envs: \"two\""),
    "env kwargs object": (edit("env.0.kwargs", {"a": {"b": 1}}), "env[0].kwargs.a"),
    "zero checkpoint frequency": (edit("meta.checkpoint_frequency", 0), "meta.checkpoint_frequency: 0"),
    "checkpoint_memory as text": (edit("meta.checkpoint_memory", "maybe"), "meta.checkpoint_memory: \"maybe\""),
    "no algorithm": (lambda raw: {**raw, "agent": [{"memory": {"name": "OnPolicyBatchReplay"}}]}, "agent[0].algorithm: required key is missing"),
    "no agents": (edit("agent", []), "agent: [] is too short"),
    "code as env name": (edit("env.0.name", "__import__('os').system('touch pwned')"), "env[0].name"),
}


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """The CLI in-process, as the console script runs it: `sys.exit(app())`."""
    from slm_lab.cli import app

    try:
        code = app(args=args, prog_name="slm-lab")
    except SystemExit as e:  # pragma: no cover - the lab returns its exit code; click may exit
        code = e.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def assert_one_line_error(code: int, err: str, fragment: str, data_dir: Path) -> None:
    assert code == 2, f"exit {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert "Traceback" not in err
    assert not data_dir.exists() or not any(data_dir.iterdir()), list(data_dir.iterdir())


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_bad_spec_values(case: str, tmp_path: Path, isolated_dirs: Path, capsys: pytest.CaptureFixture):
    change, fragment = SPEC_CASES[case]
    spec_file = write_spec_file(tmp_path / "bad.json", {"bad": change(good_raw())})
    code, _, err = run_cli(["run", str(spec_file), "bad", "train"], capsys)
    assert_one_line_error(code, err, fragment, isolated_dirs)
    # `check` names the same problem
    code, _, err = run_cli(["check", str(spec_file)], capsys)
    assert_one_line_error(code, err, fragment, isolated_dirs)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Inputs the argument cases refer to: a good spec, broken files, folders that are not runs."""
    good = write_spec_file(tmp_path / "good.json", {"ok": good_raw(), "other": good_raw()})
    (tmp_path / "trailing_comma.json").write_text('{"ok": {"agent": [],}}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "not_an_object.json").write_text('{"ok": 3}')
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    # a run folder of spec "other" (outside data/: a user may keep runs anywhere)
    other_run = tmp_path / "runs" / "other_2024_01_01_000000"
    other_run.mkdir(parents=True)
    (other_run / "spec.json").write_text(json.dumps({**good_raw(), "name": "other"}))
    ok_run = tmp_path / "runs" / "ok_2024_01_01_000000"
    ok_run.mkdir(parents=True)
    (ok_run / "spec.json").write_text(json.dumps({**good_raw(), "name": "ok"}))
    (tmp_path / "jobs_bad_json.json").write_text("{")
    (tmp_path / "jobs_list.json").write_text("[1]")
    (tmp_path / "jobs_bad_mode.json").write_text(json.dumps({str(good): {"ok": "fly"}}))
    (tmp_path / "config_bad.json").write_text("{nope")
    (tmp_path / "config_unknown.json").write_text(json.dumps({"data_sync_dirr": "/tmp/x"}))
    (tmp_path / "config_unset.json").write_text(json.dumps({"data_sync_dir": None}))
    (tmp_path / "config_interval.json").write_text(json.dumps({"data_sync_dir": "/tmp/x", "sync_interval_s": -1}))
    (tmp_path / "placeholder.json").write_text(json.dumps({"ph": {**good_raw(), "env": [{"name": "${env}"}]}}))
    return {"good": good, "dir": tmp_path, "other_run": other_run, "ok_run": ok_run}


# (arguments with {good} {dir} {other_run} {ok_run} placeholders, fragment, extra environment)
ARG_CASES: dict[str, tuple[list[str], str, dict[str, str]]] = {
    "missing spec file": (["run", "missing.json", "x", "train"], "spec file 'missing.json' not found", {}),
    "spec file is a folder": (["run", "{dir}/empty_dir", "x", "train"], "empty_dir' not found", {}),
    "bad JSON": (["run", "{dir}/trailing_comma.json", "ok", "train"], "invalid JSON at line 1", {}),
    "file is a list": (["run", "{dir}/list.json", "ok", "train"], "expected an object of named specs", {}),
    "empty file": (["run", "{dir}/empty.json", "ok", "train"], "invalid JSON", {}),
    "spec is not an object": (["run", "{dir}/not_an_object.json", "ok", "train"], "spec 'ok' is not an object", {}),
    "unknown spec name": (["run", "{good}", "nope", "train"], "spec 'nope' not found", {}),
    "unknown mode": (["run", "{good}", "ok", "fly"], "mode 'fly' is not one of", {}),
    "dev with a target": (["run", "{good}", "ok", "dev@x"], "mode 'dev@x' is not one of", {}),
    "enjoy without a model": (["run", "{good}", "ok", "enjoy"], "mode 'enjoy' needs a session folder", {}),
    "enjoy a missing folder": (["run", "{good}", "ok", "enjoy@/no/such/run"], "enjoy: no saved model in '/no/such/run'", {}),
    "enjoy a folder without a model": (["run", "{good}", "ok", "enjoy@{dir}/empty_dir"], "enjoy: no saved model", {}),
    "enjoy a garbage checkpoint": (["run", "{good}", "ok", "enjoy@{dir}/garbage.pt"], "garbage.pt: not a readable checkpoint", {}),
    "resume without a folder": (["run", "{good}", "ok", "train@"], "mode 'train@' needs a run folder", {}),
    "resume a missing folder": (["run", "{good}", "ok", "train@/no/such/run"], "train@/no/such/run: no such run folder", {}),
    "resume a folder that is not a run": (["run", "{good}", "ok", "train@{dir}/empty_dir"], "not a run folder", {}),
    "resume latest with no runs": (["run", "{good}", "ok", "train@latest"], "train@latest: no run of 'ok'", {}),
    "resume a run of another spec": (["run", "{good}", "ok", "train@{other_run}"], "is a run of 'other', not of 'ok'", {}),
    "resume with a changed net": (["run", "{good}", "ok", "train@{ok_run}", "-s", "agent.0.net.hid_layers=[8]"],
                                  "only env.N.max_frame can change", {}),
    "unknown option": (["run", "{good}", "ok", "train", "--bogus"], "no such option: --bogus", {}),
    "unknown command": (["fly"], "no such command 'fly'", {}),
    "unexpected extra argument": (["run", "{good}", "ok", "train", "extra"], "unexpected extra argument", {}),
    "spec file without name": (["run", "{good}"], "holds 2 specs (ok, other); give SPEC_NAME", {}),
    "override without =": (["run", "{good}", "ok", "train", "-s", "meta.max_session"], "override 'meta.max_session' must look like", {}),
    "override without key": (["run", "{good}", "ok", "train", "-s", "=3"], "override '=3' must look like", {}),
    "override into a number": (["run", "{good}", "ok", "train", "-s", "meta.seed.x=1"], "meta.seed", {}),
    "override past a list": (["run", "{good}", "ok", "train", "-s", "agent.5.net=1"], "'5' is not an index", {}),
    "override with a bad value": (["run", "{good}", "ok", "train", "-s", "meta.max_session=-2"], "meta.max_session: -2", {}),
    "var without =": (["run", "{good}", "ok", "train", "--var", "x"], "--var 'x' must look like", {}),
    "placeholder without value": (["run", "{dir}/placeholder.json", "ph", "train"], "placeholder '${env}' has no value", {}),
    "missing jobs file": (["run", "--jobs", "/no/jobs.json"], "no job file at /no/jobs.json", {}),
    "jobs file bad JSON": (["run", "--jobs", "{dir}/jobs_bad_json.json"], "invalid JSON", {}),
    "jobs file not an object": (["run", "--jobs", "{dir}/jobs_list.json"], "expected {spec_file", {}),
    "jobs file with a bad mode": (["run", "--jobs", "{dir}/jobs_bad_mode.json"], "mode 'fly' is not one of", {}),
    "record while training": (["run", "{good}", "ok", "train", "--record"], "--record works with mode enjoy", {}),
    "record to an avi": (["run", "{good}", "ok", "enjoy@{dir}/garbage.pt", "--record-to", "v.avi"], "", {}),
    "check a missing file": (["check", "missing.json"], "spec file 'missing.json' not found", {}),
    "check without files": (["check"], "missing argument", {}),
    "sync with bad config JSON": (["sync"], "invalid JSON", {"SLM_LAB_CONFIG": "{dir}/config_bad.json"}),
    "sync with an unknown setting": (["sync"], "unknown key 'data_sync_dirr'", {"SLM_LAB_CONFIG": "{dir}/config_unknown.json"}),
    "sync with no target": (["sync"], "data_sync_dir is not set", {"SLM_LAB_CONFIG": "{dir}/config_unset.json"}),
    "sync with a bad interval": (["sync"], "sync_interval_s: -1", {"SLM_LAB_CONFIG": "{dir}/config_interval.json"}),
    "reset with an unknown option": (["reset", "--bogus"], "no such option: --bogus", {}),
    "sync to the data dir itself": (["sync"], "overlaps the data dir", {"SLM_LAB_CONFIG": "{dir}/config_overlap.json"}),
}


def _fill(text: str, files: dict[str, Path]) -> str:
    for key, value in files.items():
        text = text.replace("{" + key + "}", str(value))
    return text


@pytest.mark.parametrize("case", list(ARG_CASES))
def test_bad_arguments(case: str, files: dict[str, Path], isolated_dirs: Path, capsys: pytest.CaptureFixture,
                       monkeypatch: pytest.MonkeyPatch):
    args, fragment, env = ARG_CASES[case]
    (files["dir"] / "config_overlap.json").write_text(json.dumps({"data_sync_dir": str(isolated_dirs / "copy")}))
    for key, value in env.items():
        monkeypatch.setenv(key, _fill(value, files))
    if case == "record to an avi":  # a good checkpoint, so that only the video name is wrong
        fragment = "--record-to: 'v.avi' must end in .mp4 or .gif"
        args = ["run", "{good}", "ok", "enjoy@{dir}/model.pt", "--record-to", "v.avi"]
        import torch

        from slm_lab.aeb import AgentSpace, EnvSpace
        from slm_lab.spec.loader import validate

        spec = validate({**good_raw(), "name": "ok"})
        torch.save(AgentSpace(spec, EnvSpace(spec, 0), 0).agents[0].state_dict(), files["dir"] / "model.pt")
    code, _, err = run_cli([_fill(a, files) for a in args], capsys)
    assert_one_line_error(code, err, fragment, isolated_dirs)


def test_the_sweep_is_wide():
    assert len(SPEC_CASES) + len(ARG_CASES) >= 40


@pytest.mark.parametrize("args,fragment", [
    (["run", "--bogus"], "error: slm-lab run: no such option: --bogus"),
    (["nope"], "error: slm-lab: no such command 'nope'"),
    (["run", "missing.json", "x", "train"], "error: spec file 'missing.json' not found"),
    (["run", "{good}", "ok", "train@{dir}/empty_dir"], "not a run folder"),
])
def test_the_console_script_answers_the_same(args: list[str], fragment: str, files: dict[str, Path], isolated_dirs: Path):
    result = subprocess.run([SLM_LAB, *[_fill(a, files) for a in args]], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=PROGRESS_TIMEOUT_S)
    assert_one_line_error(result.returncode, result.stderr, fragment, isolated_dirs)
    assert result.stdout == ""
