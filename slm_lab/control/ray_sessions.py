"""A trial's sessions as Ray tasks (`slm-lab run ... train --ray-address ADDRESS`), so one trial
spreads over a cluster the way a search's trials do.

Each session runs in a Ray worker on whichever node has a free CPU (and GPU, when its agents ask
for CUDA), in a scratch folder there; its files come back to the driver, which writes them into
the run folder of the usual layout. So a cluster needs no shared file system, and the run folder
is the same as a local run's. Without --ray-address nothing here is used.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from slm_lab.lib import io
from slm_lab.lib.logger import get_logger
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)


def session_resources(spec: Spec) -> dict[str, float]:
    """One CPU per session (its torch threads), and one GPU when any agent asks for CUDA by name."""
    wants_gpu = any(agent.net.gpu is True or str(agent.net.gpu).startswith("cuda") for agent in spec.agent)
    return {"num_cpus": float(spec.meta.torch_threads), "num_gpus": 1.0 if wants_gpu else 0.0}


def _run_remote(spec_dict: dict[str, Any], trial: int, session: int, resume_files: dict[str, bytes]) -> dict[str, Any]:
    """On a Ray worker: run one session in a scratch folder; return its files and its outcome."""
    import logging

    from slm_lab.control.session import run_session

    scratch = Path(tempfile.mkdtemp(prefix="slm_lab_session_"))
    session_dir = scratch / f"session_{session}"
    try:
        for rel, data in resume_files.items():  # a resumed session continues from its checkpoint
            target = session_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        error = None
        try:
            run_session(spec_dict, str(session_dir), trial, session, None, logging.INFO, False, bool(resume_files))
        except Exception as e:  # the driver records it as the session's failure, like a local one
            error = f"{type(e).__name__}: {e}" if not str(e).startswith("diverged") else str(e)
        files = {str(p.relative_to(session_dir)): p.read_bytes() for p in session_dir.rglob("*") if p.is_file()}
        return {"files": files, "error": error}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_sessions_on_ray(spec: Spec, trial_dir: Path, trial_index: int, sessions: list[int], address: str,
                        resume: bool = False) -> dict[int, str]:
    """Run `sessions` of the trial as Ray tasks on the cluster at `address`; write each one's files
    into trial_dir/session_<j>. Returns the failures: session -> one-line reason."""
    from slm_lab.control.ray_cluster import check_ray_address, start_ray
    from slm_lab.lib.layout import RunLayout

    check_ray_address(address)
    started = start_ray(address, trial_dir)
    import ray

    try:
        remote = ray.remote(**session_resources(spec))(_run_remote)
        spec_dict = spec.model_dump(mode="json")
        layout = RunLayout(trial_dir)
        refs = {}
        for s in sessions:
            session_dir = layout.session(s).dir
            saved = {str(p.relative_to(session_dir)): p.read_bytes() for p in session_dir.rglob("*") if p.is_file()} \
                if resume and session_dir.is_dir() else {}
            refs[remote.remote(spec_dict, trial_index, s, saved)] = s
        logger.info(f"trial {trial_index}: {len(refs)} session(s) sent to the Ray cluster at {address}")
        failed: dict[int, str] = {}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            s = refs[done[0]]
            out = ray.get(done[0])
            session_dir = layout.session(s).dir
            for rel, data in out["files"].items():
                target = io.inside(session_dir / rel, trial_dir)
                io.atomic_write(target, lambda f, data=data: f.write(data), binary=True)
            if out["error"]:
                failed[s] = out["error"]
            logger.info(f"session {s} {'failed: ' + out['error'] if out['error'] else 'done'} (on Ray)")
        return failed
    finally:
        if started:
            ray.shutdown()
