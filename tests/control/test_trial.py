"""Trial: parallel spawned sessions, recorded seeds, a failed session does not sink the rest."""

from __future__ import annotations

import json
from pathlib import Path

from spec_helpers import tiny_spec
from slm_lab.control.trial import Trial
from slm_lab.lib.seeding import derive_seed
from slm_lab.spec.loader import validate


def spec(max_session: int, **algo):
    raw = tiny_spec(
        {"name": "A2C", "training_frequency": 16, **algo}, {"name": "OnPolicyBatchReplay"},
        env={"name": "CartPole-v1", "num_envs": 2, "max_frame": 1000},
        meta={"max_session": max_session, "log_frequency": 500, "eval_frequency": 500, "eval_episodes": 2, "seed": 3},
    )
    raw["name"] = "trial_test"
    return validate(raw)


def test_parallel_trial_records_seeds_and_writes_every_session(tmp_path: Path):
    metrics = Trial(spec(2), tmp_path, trial_index=1, show_progress=False).run()
    saved = json.loads((tmp_path / "spec.json").read_text())
    assert saved["meta"]["resolved"]["session_seeds"] == [derive_seed(3, 1, 0), derive_seed(3, 1, 1)]
    assert saved["meta"]["resolved"]["trial"] == 1
    for s in range(2):
        assert (tmp_path / f"session_{s}" / "train.csv").is_file()
        assert (tmp_path / f"session_{s}" / "session.log").is_file()
    assert (tmp_path / "trial_metrics.json").is_file()
    assert metrics["num_sessions"] == 2 and metrics["num_failed_sessions"] == 0


def test_the_progress_manager_process_does_not_load_torch():
    """It only carries progress messages; loading torch there cost ~240 MiB per multi-session trial."""
    import multiprocessing as mp

    from slm_lab.control.trial import start_progress_manager

    manager = start_progress_manager(mp.get_context("spawn"))
    try:
        queue = manager.Queue()
        queue.put((0, {"frame": 1}))
        assert queue.get(timeout=10) == (0, {"frame": 1})
        maps = Path(f"/proc/{manager._process.pid}/maps").read_text()
        assert "libtorch" not in maps
    finally:
        manager.shutdown()


def test_a_one_session_run_never_loads_pandas(tmp_path: Path):
    """Training, metrics, graphs and the report of a run read the lab's own tables as numpy
    columns (lib/tables.Table): pandas and the pyarrow it loads cost a run ~100 MiB of peak
    memory and ~0.3 s, for nothing it needs (docs/BENCHMARKS.md, peak memory)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parents[1])!r}]\n"
        "from test_trial import spec\n"
        "from slm_lab.control.trial import Trial\n"
        f"metrics = Trial(spec(1), {str(tmp_path / 'run')!r}, show_progress=False).run()\n"
        "assert metrics['num_sessions'] == 1, metrics\n"
        "print(sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
    for name in ("trial_metrics.csv", "trial_graph_return.png", "report.html", "session_0/session_graph.html"):
        assert (tmp_path / "run" / name).is_file(), name
