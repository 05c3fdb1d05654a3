"""`enjoy --record`: a video of one greedy evaluation episode, as .mp4 or .gif.

The episode is played in the lab's own env stack (same wrappers, frame stacking and
normalization as in training) with Gymnasium's `render_mode="rgb_array"`, so the agent
sees exactly what it was trained on while the video shows the game's own frames. Frames are
streamed to the writer (an .mp4 through the ffmpeg binary shipped by imageio-ffmpeg), and
the file appears atomically: written beside the target under a temp name, then renamed.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

VIDEO_SUFFIXES = (".mp4", ".gif")
DEFAULT_FPS = 30
MAX_GIF_FRAMES = 2000  # a GIF keeps every frame in memory until written: long episodes want .mp4


def default_video_path(model_path: Path) -> Path:
    """`<session dir>/video/enjoy_<timestamp>.mp4` for `<session dir>/model/<name>.pt`."""
    from slm_lab.lib.layout import SessionLayout

    return SessionLayout.of_model(model_path).video_dir / f"enjoy_{_dt.datetime.now().strftime('%Y_%m_%d_%H%M%S')}.mp4"


def check_video_path(path: Path) -> None:
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise SpecError(f"--record-to: '{path}' must end in {' or '.join(VIDEO_SUFFIXES)}")
    if path.exists() and path.is_dir():
        raise SpecError(f"--record-to: '{path}' is a folder; give a file name ending in .mp4 or .gif")


class _Mp4Writer:
    """Streams RGB frames into ffmpeg; pads odd sizes by one pixel (yuv420p needs even sizes)."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path, self.fps = path, fps
        self.gen: Any = None

    def add(self, frame: np.ndarray) -> None:
        frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        if self.gen is None:
            import imageio_ffmpeg

            h, w = frame.shape[:2]
            self.gen = imageio_ffmpeg.write_frames(str(self.path), (w, h), fps=self.fps, macro_block_size=1,
                                                   ffmpeg_log_level="error")
            self.gen.send(None)
        self.gen.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self.gen is not None:
            self.gen.close()


class _GifWriter:
    """Collects frames as 8-bit palette images (a third of the memory of RGB) and writes once."""

    def __init__(self, path: Path, fps: int) -> None:
        self.path, self.fps = path, fps
        self.frames: list[Any] = []

    def add(self, frame: np.ndarray) -> None:
        from PIL import Image

        if len(self.frames) < MAX_GIF_FRAMES:
            self.frames.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))

    def close(self) -> None:
        if self.frames:
            self.frames[0].save(self.path, format="GIF", save_all=True, append_images=self.frames[1:],
                                duration=max(1, round(1000 / self.fps)), loop=0)


def _rgb(frame: Any) -> np.ndarray:
    # a vector env renders a tuple with one frame per sub-env
    if isinstance(frame, (tuple, list)):
        frame = frame[0]
    if frame is None:
        raise SpecError("this env renders no rgb_array frames, so its episodes cannot be recorded")
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise SpecError(f"this env renders frames of shape {arr.shape}, not RGB images: cannot record")
    return arr[..., :3].astype(np.uint8, copy=False)


def record_episode(agent: Any, env_spec: Any, seed: int, path: Path, env_norm: dict[str, Any] | None = None,
                   max_steps: int = 100_000) -> float:
    """Play one greedy episode with `agent`, write its frames to `path`; returns the episode's return."""
    from slm_lab.env.gymnasium import GymEnv

    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame-drawn envs on a machine without a display
    spec = env_spec.model_copy(update={"kwargs": {**env_spec.kwargs, "render_mode": "rgb_array"}, "num_envs": 1,
                                       "vectorization": "sync"})
    env = GymEnv(spec, seed, num_envs=1, evaluation=True)
    if env_norm and hasattr(env, "load_norm_state_dict"):
        env.load_norm_state_dict(env_norm)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    fps = int((getattr(env.venv, "metadata", None) or {}).get("render_fps") or DEFAULT_FPS)
    writer = _GifWriter(tmp, fps) if path.suffix.lower() == ".gif" else _Mp4Writer(tmp, fps)
    total = 0.0
    try:
        state = env.reset()
        agent.reset_greedy_state()
        writer.add(_rgb(env.venv.render()))
        for _ in range(max_steps):
            result = env.step(agent.act_greedy(state))
            done = bool(result.terminated[0] or result.truncated[0])
            if done:  # the env has already reset (same-step autoreset): its frame is the next episode's
                break
            writer.add(_rgb(env.venv.render()))
            state = result.state
        finished = env.drain_finished()
        total = float(finished[0][1]) if finished else float(env.episodes.returns[0])
        writer.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        env.close()
    logger.info(f"recorded an episode with return {total:.2f} to {path}")
    return total


def record_video(spec: Any, model_path: Path, path: Path | None = None) -> tuple[Path, float]:
    """Load the saved model (weights only) and record one greedy episode; (video path, return)."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.checkpoint import load_checkpoint
    from slm_lab.lib.seeding import derive_seed, seed_everything

    path = path or default_video_path(model_path)
    check_video_path(path)
    seed = derive_seed(spec.meta.seed, 0, 0) + 17  # the enjoy seed: the video shows an episode enjoy plays
    seed_everything(seed)
    env_space = EnvSpace(spec, seed)
    try:
        agent = AgentSpace(spec, env_space, seed).agents[0]
    finally:
        env_space.close()
    state = load_checkpoint(model_path)
    agent.load_state_dict(state, weights_only=True)
    total = record_episode(agent, spec.env[0], seed, path, state.get("env_norm"))
    from slm_lab.analysis.tracking import log_video

    log_video(path, spec)  # meta.tracking: the video joins the trial's MLflow run / a W&B run (no-op when unset)
    return path, total
