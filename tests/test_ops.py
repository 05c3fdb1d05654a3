"""Lab commands: kill (by pid files only), reset, clear, sync (--watch), and enjoy --record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from process_helpers import PROGRESS_TIMEOUT_S, wait_for
from spec_helpers import tiny_spec, write_spec_file
from slm_lab.control import ops
from slm_lab.lib import config, pids

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")


def cli(*args: str, cwd: Path | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([SLM_LAB, *args], capture_output=True, text=True, cwd=cwd, env=os.environ.copy(), timeout=PROGRESS_TIMEOUT_S, **kw)


def spec_raw(max_frame: int, max_session: int = 1, num_envs: int = 2) -> dict:
    return tiny_spec({"name": "A2C", "training_frequency": 16}, {"name": "OnPolicyBatchReplay"},
                     env={"name": "CartPole-v1", "num_envs": num_envs, "max_frame": max_frame},
                     meta={"max_session": max_session, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 1})


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has stopped)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the test reads /proc")
def test_kill_stops_a_running_trial_and_only_the_processes_of_its_pid_files(tmp_path: Path, isolated_dirs: Path):
    spec_file = write_spec_file(tmp_path / "spec.json", {"long": spec_raw(10_000_000, max_session=2)})
    run = subprocess.Popen([SLM_LAB, "run", str(spec_file), "long", "train"], env=os.environ.copy(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # an unrelated process with a pid file whose start time does not match: a reused pid, never signalled
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        fake = pids.register("session", bystander.pid, cmd="sleep")
        record = json.loads(fake.read_text())
        fake.write_text(json.dumps({**record, "start": "not-its-start-time"}))
        wait_for(lambda: sum(p.kind == "session" for p in pids.list_processes(clean=False)) == 2, "2 sessions")
        listed = pids.list_processes()
        assert {p.kind for p in listed} >= {"trial", "session", "worker"}
        assert run.pid in {p.pid for p in listed} and bystander.pid not in {p.pid for p in listed}
        run_dir = next(p for p in isolated_dirs.iterdir() if p.is_dir())
        assert pids.is_locked(run_dir)

        result = cli("kill", "--yes")
        assert result.returncode == 0, result.stderr
        assert f"stopped trial {run.pid}" in result.stdout
        run.wait(timeout=120)
        for p in listed:  # every listed process is gone, and the group has no survivor (the manager included)
            wait_for(lambda p=p: not alive(p.pid), f"{p.kind} {p.pid} to stop")
        wait_for(lambda: _group_gone(run.pid), "the run's process group to empty")
        assert bystander.poll() is None, "a process whose pid file did not match was signalled"
        assert not list(pids.pid_dir().glob("*.json")), "pid files left behind"
        assert not pids.is_locked(run_dir)
        assert "no lab processes running" in cli("kill", "--yes").stdout
    finally:
        for proc in (run, bystander):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return False
    except ProcessLookupError:
        return True


def test_reset_removes_the_data_dir_only_when_agreed(tmp_path: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch):
    (isolated_dirs / "run_2024_01_01_000000").mkdir(parents=True)
    (isolated_dirs / "run_2024_01_01_000000" / "log.txt").write_text("x")
    no_tty = cli("reset", stdin=subprocess.DEVNULL)
    assert no_tty.returncode == 2 and "--yes" in no_tty.stderr and isolated_dirs.exists()
    with pytest.raises(ops.OpsError, match="nothing removed"):
        ops.reset(confirm=lambda question: False)
    assert isolated_dirs.exists()
    asked: list[str] = []
    assert ops.reset(confirm=lambda q: asked.append(q) or True) == [isolated_dirs.resolve()]
    assert not isolated_dirs.exists() and str(isolated_dirs.resolve()) in asked[0]
    result = cli("reset", "--yes")
    assert result.returncode == 0 and "nothing to remove" in result.stdout

    isolated_dirs.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:  # a lab process still running: reset refuses
        pids.register("trial", sleeper.pid, cmd="sleep")
        with pytest.raises(ops.OpsError, match="running"):
            ops.reset(confirm=lambda q: True, yes=True)
    finally:
        sleeper.kill()
        sleeper.wait()
    pids.list_processes()  # cleans the stale file
    monkeypatch.setenv("SLM_LAB_DATA_DIR", str(tmp_path))  # a data dir that holds the current folder
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ops.OpsError, match="refusing"):
        ops.reset(confirm=lambda q: True, yes=True)


def test_clear_removes_caches_in_the_project_and_unity_downloads_on_request(tmp_path: Path):
    project = tmp_path / "proj"
    for d in ("slm_lab/__pycache__", "slm_lab/agent/__pycache__", ".pytest_cache", ".ruff_cache", "tests/__pycache__",
              ".venv/lib/__pycache__", "data/__pycache__"):
        (project / d).mkdir(parents=True)
        (project / d / "x.pyc").write_text("x")
    (project / "pyproject.toml").write_text('[project]\nname = "slm_lab"\n')
    unity = config.unity_cache_dir() / "3dball"
    unity.mkdir(parents=True)
    result = cli("clear", cwd=project / "slm_lab")  # from a subfolder: the project is found upwards
    assert result.returncode == 0 and "removed 5 cache folder(s)" in result.stdout, result.stdout + result.stderr
    left = sorted(str(p.relative_to(project)) for p in project.rglob("__pycache__"))
    assert left == [".venv/lib/__pycache__", "data/__pycache__"] and not (project / ".pytest_cache").exists()
    assert unity.exists()
    assert cli("clear", "--unity", cwd=project).returncode == 0
    assert not config.unity_cache_dir().exists()


def test_sync_copies_new_and_changed_files_and_watches(tmp_path: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = tmp_path / "config" / "default.json"
    monkeypatch.setenv("SLM_LAB_CONFIG", str(cfg))
    first = cli("sync")  # first use writes the defaults, and says what to set
    assert first.returncode == 2 and "data_sync_dir is not set" in first.stderr
    assert json.loads(cfg.read_text()) == config.DEFAULTS

    target = tmp_path / "backup"
    cfg.write_text(json.dumps({"data_sync_dir": str(target), "sync_interval_s": 0.2}))
    run = isolated_dirs / "r_2024_01_01_000000"
    (run / "session_0").mkdir(parents=True)
    (run / "spec.json").write_text("{}")
    (run / "session_0" / "train.csv").write_text("frame\n500\n")
    (run / "session_0" / ".train.csv.abc.tmp").write_text("half")  # a write in progress: not copied
    (run / ".lock").write_text("1")
    result = cli("sync")
    assert result.returncode == 0 and "2 file(s) copied, 0 unchanged" in result.stdout, result.stdout + result.stderr
    assert (target / run.name / "session_0" / "train.csv").read_text() == "frame\n500\n"
    assert not list(target.rglob("*.tmp")) and not list(target.rglob(".lock"))
    assert "0 file(s) copied, 2 unchanged" in cli("sync").stdout
    time.sleep(0.01)
    (run / "session_0" / "train.csv").write_text("frame\n500\n1000\n")
    assert "1 file(s) copied, 1 unchanged" in cli("sync").stdout

    # its output goes to files: a line per pass into an unread pipe would block the watch once
    # the pipe filled, on a machine slow enough for the wait below to last minutes
    out_file, err_file = tmp_path / "watch.out", tmp_path / "watch.err"
    with open(out_file, "w") as out_f, open(err_file, "w") as err_f:
        watch = subprocess.Popen([SLM_LAB, "sync", "--watch"], env=os.environ.copy(), stdout=out_f, stderr=err_f)
        try:
            (run / "session_0" / "eval.csv").write_text("frame\n1000\n")
            wait_for(lambda: (target / run.name / "session_0" / "eval.csv").exists(), "the watch to copy", proc=watch)
        finally:
            watch.send_signal(signal.SIGINT)
            watch.wait(timeout=PROGRESS_TIMEOUT_S)
    out, err = out_file.read_text(), err_file.read_text()
    assert watch.returncode == 0 and "sync stopped" in out, out + err
    assert "Traceback" not in err


def test_enjoy_records_a_video_of_an_episode(tmp_path: Path, isolated_dirs: Path):
    import imageio_ffmpeg
    from PIL import Image

    from slm_lab.control.video import record_video
    from slm_lab.control.session import Session
    from slm_lab.spec.loader import validate

    raw = spec_raw(600, num_envs=1)
    spec_file = write_spec_file(tmp_path / "spec.json", {"ok": raw})
    session_dir = isolated_dirs / "ok_2024_01_01_000000" / "session_0"
    spec = validate({**raw, "name": "ok"})
    Session(spec, session_dir).run()

    result = cli("run", str(spec_file), "ok", f"enjoy@{session_dir}", "--record")
    assert result.returncode == 0, result.stderr
    videos = list((session_dir / "video").glob("enjoy_*.mp4"))
    assert len(videos) == 1 and f"video:   {videos[0]}" in result.stdout
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(videos[0]))

    gif, ret = record_video(spec, session_dir / "model" / "best.pt", tmp_path / "clip.gif")
    # CartPole pays 1 a step and the video shows one frame per step: the frame count is the return
    assert frames == int(ret) >= 8  # the same greedy episode (same seed) as the mp4 above
    with Image.open(gif) as im:  # Pillow merges identical consecutive frames, summing their durations
        total_ms = 0
        for i in range(im.n_frames):
            im.seek(i)
            total_ms += im.info["duration"]
        assert im.size == (600, 400) and total_ms == int(ret) * 20  # CartPole renders at 50 fps
    assert not list(tmp_path.glob(".clip*")) and not list((session_dir / "video").glob(".*"))
