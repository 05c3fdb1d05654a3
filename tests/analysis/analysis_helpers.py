"""Helpers shared by the analysis tests: synthetic tables, specs, PNG checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from slm_lab.lib import io
from slm_lab.spec.schema import Spec

COLUMNS = ["frame", "opt_step", "episode", "wall_t", "fps", "return", "return_ma", "loss", "entropy",
           "explore_var", "lr"]


def make_spec(env: str = "CartPole-v1", name: str = "dqn_test", **meta) -> Spec:
    return Spec.model_validate({
        "name": name,
        "agent": [{"algorithm": {"name": "DQN"}, "memory": {"name": "Replay"}}],
        "env": [{"name": env, "max_frame": 10_000}],
        "meta": {"max_session": 3, **meta},
    })


def table(frames: np.ndarray, **columns) -> pd.DataFrame:
    df = pd.DataFrame({c: np.full(len(frames), np.nan) for c in COLUMNS})
    df["frame"] = np.asarray(frames, dtype=float)
    for k, v in columns.items():
        df[k] = v
    return df


def write_session(session_dir: Path, seed: int = 0, frame_offset: int = 0, max_frame: int = 10_000,
                  rows: int | None = None) -> Path:
    """A learning curve from ~random (CartPole 22) to ~480, with noise and a NaN first return."""
    rng = np.random.default_rng(seed)
    session_dir.mkdir(parents=True, exist_ok=True)
    f = np.arange(0, max_frame + 1, 250)
    ret = 22 + 450 / (1 + np.exp(-(f - max_frame / 2) / (max_frame / 10))) + rng.normal(0, 15, f.size)
    ret[0] = np.nan
    train = table(f, opt_step=f / 4, episode=f // 50, wall_t=f / 1000, fps=1000.0, loss=np.exp(-f / 3000),
                  explore_var=np.maximum(1 - f / 5000, 0.05), lr=1e-3)
    train["return"] = ret
    train["return_ma"] = pd.Series(ret).rolling(5, min_periods=1).mean()
    fe = np.arange(0, max_frame + 1, 1000) + frame_offset
    eret = 22 + 470 / (1 + np.exp(-(fe - max_frame / 2) / (max_frame / 10))) + rng.normal(0, 20, fe.size)
    ev = table(fe, opt_step=fe / 4, episode=fe // 50)
    ev["return"] = eret
    if rows is not None:
        train, ev = train.iloc[:rows], ev.iloc[:rows]
    io.write_csv(session_dir / "train.csv", train)
    io.write_csv(session_dir / "eval.csv", ev)
    return session_dir


def assert_png(path: Path) -> None:
    """A real PNG with visible content (not a blank canvas)."""
    import matplotlib.image as mpimg

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].var()) > 1e-3, f"{path} looks blank"


def html_figure(path: Path) -> dict:
    """The plotly figure (data + layout) a graph page draws, parsed back from the page."""
    import json

    text = Path(path).read_text(encoding="utf-8")
    start = text.index("fig = ") + len("fig = ")
    figure, _ = json.JSONDecoder().raw_decode(text[start:].replace("<\\/", "</"))
    return figure


def traces(figure: dict) -> dict[str, list[dict]]:
    """The figure's traces by name (a name may repeat across panels)."""
    out: dict[str, list[dict]] = {}
    for trace in figure["data"]:
        out.setdefault(trace.get("name", ""), []).append(trace)
    return out
