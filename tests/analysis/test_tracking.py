"""meta.tracking: a finished trial logged to MLflow and to W&B offline, read back with each library's own code."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
from analysis_helpers import make_spec
from process_helpers import PROGRESS_TIMEOUT_S

from slm_lab.analysis import tracking
from slm_lab.analysis.report import session_end, trial_end
from slm_lab.lib import io
from slm_lab.spec.schema import TrackingSpec


def tracked_trial(tmp_path: Path, make_trial, **tracking_kwargs):
    spec = make_spec()
    spec = spec.model_copy(update={"meta": spec.meta.model_copy(update={"tracking": TrackingSpec(**tracking_kwargs)})})
    trial_dir, spec, dirs = make_trial(tmp_path / "data" / "run", n_sessions=2, spec=spec)
    for j, d in enumerate(dirs):
        from slm_lab.analysis.metrics import read_table

        train = read_table(d / "train.csv").to_frame()
        train["q_mean"] = np.linspace(0, 5, len(train)) + j  # an algorithm's own statistic
        io.write_csv(d / "train.csv", train)
        session_end(d, spec)
    trial_end(trial_dir, spec, dirs, {})
    return trial_dir, spec, dirs


def test_flatten_gives_dotted_parameters():
    assert tracking.flatten({"a": [{"b": 1}], "c": None}) == {"a.0.b": "1", "c": "None"}


def test_no_tracking_block_logs_nothing(tmp_path, make_trial):
    trial_dir, spec, _ = make_trial(tmp_path / "t", n_sessions=1)
    assert tracking.log_trial(trial_dir, spec) == {}


def test_mlflow_run_holds_the_spec_the_scalars_and_the_graphs(tmp_path, make_trial, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("SLM_LAB_DATA_DIR", str(tmp_path / "data"))
    trial_dir, spec, _ = tracked_trial(tmp_path, make_trial, mlflow=True, project="proj")
    done = tracking.log_trial(trial_dir, spec)
    client = MlflowClient(tracking_uri=(tmp_path / "data" / "mlruns").as_uri())
    run = client.get_run(done["mlflow"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "proj"
    assert run.data.params["agent.0.algorithm.name"] == "DQN" and run.data.params["env.0.name"] == "CartPole-v1"
    history = client.get_metric_history(run.info.run_id, "session_1.q_mean")
    assert [m.step for m in history][:2] == [0, 250] and history[-1].value == pytest.approx(6.0)
    assert len(client.get_metric_history(run.info.run_id, "session_0.eval_return")) == 11
    metrics = io.read_json(trial_dir / "trial_metrics.json")["trial"]
    assert run.data.metrics["trial.strength"] == pytest.approx(metrics["strength"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"spec.json", "graphs"} <= artifacts
    graphs = {a.path for a in client.list_artifacts(run.info.run_id, "graphs")}
    assert "graphs/trial_graph_return.png" in graphs
    assert mlflow.__version__


def read_wandb_records(path: Path) -> list:
    """The records of an offline run's .wandb file, parsed with W&B's own protobuf Record.

    wandb 0.31 offers no Python reader of offline runs (its Api reads a server), so this walks the
    file's framing: a 7-byte header (':W&B', magic, version), then LevelDB-log chunks in 32 KiB
    blocks (crc32c 4 bytes, length 2, type 1: full / first / middle / last)."""
    from wandb.proto.wandb_internal_pb2 import Record

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pos, pending = [], 7, b""
    block = 32768
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            pos += room  # zero padding to the block's end
            continue
        if pos + 7 + length > len(data):
            break  # a chunk still being written: the caller reads the file again
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            rec = Record()
            rec.ParseFromString(pending)
            records.append(rec)
    return records


def test_wandb_offline_run_holds_the_spec_and_the_scalars(tmp_path, make_trial, monkeypatch):
    pytest.importorskip("wandb")
    import json

    monkeypatch.setenv("SLM_LAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    trial_dir, spec, _ = tracked_trial(tmp_path, make_trial, wandb=True)
    done = tracking.log_trial(trial_dir, spec)
    folder = done["wandb"]
    assert folder.parent == tmp_path / "data" / "wandb" and folder.name.startswith("offline-run-")
    # wandb's service process may still be writing the file when finish() returns: wait for its exit record
    deadline = time.monotonic() + PROGRESS_TIMEOUT_S
    while True:
        records = read_wandb_records(next(folder.glob("run-*.wandb")))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    config = {}
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update({u.key: json.loads(u.value_json) for u in r.config.update})
        if r.WhichOneof("record_type") == "run" and r.run.config.update:
            config.update({u.key: json.loads(u.value_json) for u in r.run.config.update})
    assert config["agent"][0]["algorithm"]["name"] == "DQN" and config["env"][0]["name"] == "CartPole-v1"
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
               for r in records if r.WhichOneof("record_type") == "history"]
    q = [h["session_1/q_mean"] for h in history if "session_1/q_mean" in h]
    assert len(q) == 41 and q[-1] == pytest.approx(6.0)
    assert [h["_step"] for h in history][:3] == [0, 4, 250]  # frames: session_1 evaluates 4 frames late
    summary = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
               for r in records if r.WhichOneof("record_type") == "summary" for i in r.summary.update}
    metrics = io.read_json(trial_dir / "trial_metrics.json")["trial"]
    assert summary["trial/strength"] == pytest.approx(metrics["strength"])


def test_enjoy_video_joins_the_trials_mlflow_run(tmp_path, make_trial, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("SLM_LAB_DATA_DIR", str(tmp_path / "data"))
    trial_dir, spec, dirs = tracked_trial(tmp_path, make_trial, mlflow=True)
    run_id = tracking.log_trial(trial_dir, spec)["mlflow"]
    video = dirs[0] / "video" / "enjoy_1.gif"
    video.parent.mkdir()
    video.write_bytes(b"GIF89a fake frames")
    assert tracking.log_video(video, spec)["mlflow"] == run_id
    client = MlflowClient(tracking_uri=(tmp_path / "data" / "mlruns").as_uri())
    assert [a.path for a in client.list_artifacts(run_id, "videos/session_0")] == ["videos/session_0/enjoy_1.gif"]
