"""Experiment tracking beyond TensorBoard: a finished trial logged to MLflow and W&B (meta.tracking).

One call at trial end, `log_trial(trial_dir, spec)`, sends what the trial folder holds:

- the resolved spec: flattened into parameters (`agent.0.algorithm.gamma`) and as spec.json;
- the scalars: every train.csv column of every session (training statistics included) as
  `session_<j>/<column>` with the frame as step, eval returns as `session_<j>/eval_return`,
  and the trial metrics (trial_metrics.json) as final values `trial/<metric>`;
- the graphs (every PNG of the trial) and the videos `enjoy --record` left in sessions' video/.

MLflow goes to `meta.tracking.mlflow_uri`, else a local file store in `<data dir>/mlruns`
(browse it with `mlflow ui --backend-store-uri <data dir>/mlruns`). W&B runs in offline mode
under `<data dir>/wandb`; `wandb sync <data dir>/wandb/offline-run-*` uploads them later.
Both libraries are optional extras (pip install 'slm_lab[tracking]'), imported only here; a
tracking failure is logged and never costs the run its results.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator

from slm_lab.lib import io
from slm_lab.lib.layout import RunLayout, TableLayout
from slm_lab.lib.logger import get_logger

logger = get_logger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """{'agent.0.algorithm.gamma': '0.99', ...}: a nested spec as dotted parameters."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return {prefix: str(obj)}
    out: dict[str, str] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def scalar_rows(trial_dir: Path) -> Iterator[tuple[int, dict[str, float]]]:
    """(frame, {key: value}) for every logged frame, all sessions merged, frames increasing."""
    from slm_lab.analysis.metrics import read_table

    by_frame: dict[int, dict[str, float]] = {}
    for session in (s.dir for s in RunLayout(Path(trial_dir)).sessions() if s.dir.is_dir()):
        tag = session.name
        for path, rename in ((TableLayout(session).train_csv, None), (TableLayout(session).eval_csv, {"return": "eval_return"})):
            if not path.is_file():
                continue
            df = read_table(path)
            columns = ["return"] if rename else [c for c in df.columns if c != "frame"]
            for row in df.rows():
                frame = row.get("frame")
                if not isinstance(frame, (int, float)) or not math.isfinite(frame):
                    continue
                slot = by_frame.setdefault(int(frame), {})
                for c in columns:
                    v = row.get(c)
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        slot[f"{tag}/{(rename or {}).get(c, c)}"] = float(v)
    yield from sorted(by_frame.items())


def trial_scalars(trial_dir: Path) -> dict[str, float]:
    path = RunLayout(trial_dir).trial_metrics_json
    metrics = io.read_json(path).get("trial", {}) if path.is_file() else {}
    return {f"trial/{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def files_to_log(trial_dir: Path) -> tuple[list[Path], list[Path]]:
    """(graphs, videos) of the trial: every PNG, and every recorded video in a session's video/."""
    graphs = sorted(trial_dir.rglob("*.png"))
    videos = sorted(p for p in trial_dir.glob("session_*/video/*") if p.suffix in VIDEO_SUFFIXES)
    return graphs, videos


def _mlflow_experiment(uri: str | None, project: str) -> tuple[Any, str]:
    """An MLflow client on `uri` (default: a file store in the data dir) and the project's experiment id."""
    from mlflow.tracking import MlflowClient

    if uri is None:
        # MLflow 3 keeps its file store in maintenance mode behind this opt-in; a database
        # store needs SQLAlchemy, which mlflow-skinny leaves out
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = (io.data_root() / "mlruns").resolve().as_uri()
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(project)
    return client, found.experiment_id if found else client.create_experiment(project)


def log_mlflow(trial_dir: Path, spec: Any, uri: str | None, project: str) -> str:
    """Log the trial as one MLflow run; returns its run id."""
    from mlflow.entities import Metric, Param

    client, experiment = _mlflow_experiment(uri, project)
    run = client.create_run(experiment, run_name=f"{trial_dir.parent.name}/{trial_dir.name}",
                            tags={"slm_lab.trial_dir": str(trial_dir.resolve())})
    run_id = run.info.run_id
    params = [Param(k[:250], v[:6000]) for k, v in flatten(spec.model_dump(mode="json")).items()]
    for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=params[i:i + 100])
    metrics = [Metric(k.replace("/", "."), v, 0, frame) for frame, row in scalar_rows(trial_dir) for k, v in row.items()]
    metrics += [Metric(k.replace("/", "."), v, 0, 0) for k, v in trial_scalars(trial_dir).items()]
    for i in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[i:i + 1000])
    client.log_artifact(run_id, str(RunLayout(trial_dir).spec_json))
    graphs, videos = files_to_log(trial_dir)
    for path in graphs:
        client.log_artifact(run_id, str(path), artifact_path=str(Path("graphs") / path.parent.relative_to(trial_dir)))
    for path in videos:
        client.log_artifact(run_id, str(path), artifact_path=f"videos/{path.parent.parent.name}")
    client.set_terminated(run_id)
    return run_id


def log_wandb(trial_dir: Path, spec: Any, project: str) -> Path:
    """Log the trial as one offline W&B run; returns the run's folder (for `wandb sync`)."""
    import wandb

    root = io.data_root()  # wandb adds its own wandb/ folder
    root.mkdir(parents=True, exist_ok=True)
    run = wandb.init(mode="offline", project=project, dir=str(root), name=f"{trial_dir.parent.name}/{trial_dir.name}",
                     config=spec.model_dump(mode="json"), reinit="create_new")
    try:
        for frame, row in scalar_rows(trial_dir):
            run.log(row, step=frame)
        for k, v in trial_scalars(trial_dir).items():
            run.summary[k] = v
        graphs, videos = files_to_log(trial_dir)
        run.log({f"graphs/{p.parent.relative_to(trial_dir) / p.stem}": wandb.Image(str(p)) for p in graphs})
        for p in videos:
            run.save(str(p), base_path=str(trial_dir), policy="now")
        folder = Path(run.dir).parent
    finally:
        run.finish()
    return folder


def log_trial(trial_dir: Path, spec: Any) -> dict[str, Any]:
    """Send a finished trial to the trackers `spec.meta.tracking` asks for; what was logged where."""
    tracking = getattr(spec.meta, "tracking", None)
    if tracking is None:
        return {}
    trial_dir = Path(trial_dir)
    project = tracking.project or spec.name
    return _send(tracking, what=str(trial_dir), loggers={
        "mlflow": lambda: log_mlflow(trial_dir, spec, tracking.mlflow_uri, project),
        "wandb": lambda: log_wandb(trial_dir, spec, project)})


def _send(tracking: Any, what: str, loggers: dict[str, Any]) -> dict[str, Any]:
    """Call the logger of each tracker `tracking` turns on; what was logged where. A missing
    library or a failing tracker is one warning: a tracker must never cost the run its results."""
    done: dict[str, Any] = {}
    for name, log in loggers.items():
        if not getattr(tracking, name):
            continue
        try:
            done[name] = log()
            logger.info("%s: logged to %s (%s)", what, name, done[name])
        except ImportError:
            logger.warning("meta.tracking.%s is on but %s is not installed: pip install 'slm_lab[tracking]'", name, name)
        except Exception:
            logger.warning("logging %s to %s failed", what, name, exc_info=True)
    return done


def _mlflow_video(video: Path, trial_dir: Path, spec: Any, uri: str | None, project: str) -> str:
    """Add the video to the trial's MLflow run (found by its trial-folder tag), else to a new run."""
    client, experiment = _mlflow_experiment(uri, project)
    tag = str(trial_dir.resolve()).replace("'", "\\'")
    runs = client.search_runs([experiment], filter_string=f"tags.`slm_lab.trial_dir` = '{tag}'", max_results=1)
    run_id = runs[0].info.run_id if runs else client.create_run(
        experiment, run_name=f"{trial_dir.parent.name}/{trial_dir.name} enjoy",
        tags={"slm_lab.trial_dir": str(trial_dir.resolve())}).info.run_id
    client.log_artifact(run_id, str(video), artifact_path=f"videos/{video.parent.parent.name}")
    if not runs:
        client.set_terminated(run_id)
    return run_id


def _wandb_video(video: Path, trial_dir: Path, project: str) -> Path:
    """A small offline W&B run holding the video file (wandb sync uploads it with the trial's)."""
    import wandb

    root = io.data_root()
    root.mkdir(parents=True, exist_ok=True)
    run = wandb.init(mode="offline", project=project, dir=str(root), reinit="create_new",
                     name=f"{trial_dir.parent.name}/{trial_dir.name} enjoy", job_type="enjoy")
    try:
        run.save(str(video), base_path=str(video.parent.parent.parent), policy="now")
        folder = Path(run.dir).parent
    finally:
        run.finish()
    return folder


def log_video(video: Path, spec: Any) -> dict[str, Any]:
    """`enjoy --record` made `video` (in <trial>/session_<j>/video/): send it where meta.tracking says."""
    tracking = getattr(spec.meta, "tracking", None)
    if tracking is None:
        return {}
    video = Path(video)
    trial_dir = video.parent.parent.parent
    project = tracking.project or spec.name
    return _send(tracking, what=f"the video {video}", loggers={
        "mlflow": lambda: _mlflow_video(video, trial_dir, spec, tracking.mlflow_uri, project),
        "wandb": lambda: _wandb_video(video, trial_dir, project)})
