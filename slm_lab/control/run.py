"""Run one job: a spec in a mode. Everything is validated before anything is written."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slm_lab.lib import io
from slm_lab.lib.logger import get_logger, setup_logging
from slm_lab.spec.errors import SpecError
from slm_lab.spec.loader import check_env_names, load_spec
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

MODES = ("dev", "train", "enjoy@<session dir>")


@dataclass(frozen=True)
class Mode:
    kind: str  # dev | train | enjoy
    target: str | None = None  # enjoy@<target>


def parse_mode(text: str) -> Mode:
    kind, sep, target = text.partition("@")
    if kind == "enjoy":
        if not sep or not target:
            raise SpecError("mode 'enjoy' needs a session folder: enjoy@data/<run>/session_0")
        return Mode("enjoy", target)
    if kind in ("dev", "train") and not sep:
        return Mode(kind)
    raise SpecError(f"mode '{text}' is not one of: {', '.join(MODES)}")


def find_model(target: str) -> Path:
    """The checkpoint to replay: <session dir>/model/best.pt (or latest.pt); a trial dir means session_0."""
    path = Path(target)
    if path.is_file() and path.suffix == ".pt":
        return path
    if (path / "session_0").is_dir():
        path = path / "session_0"
    for name in ("best.pt", "latest.pt"):
        if (path / "model" / name).is_file():
            return path / "model" / name
    raise SpecError(f"enjoy: no saved model in '{target}' (expected {target}/model/best.pt from a train run)")


def prepare(spec_file: str, spec_name: str, mode_text: str, overrides: list[str] | None = None,
            variables: dict[str, Any] | None = None) -> tuple[Spec, Mode]:
    """Validate everything a run needs; raises SpecError with a one-line message."""
    mode = parse_mode(mode_text)
    spec = load_spec(spec_file, spec_name, overrides, variables, mode=mode.kind)
    check_env_names(spec)
    if mode.kind == "enjoy":
        find_model(mode.target or "")
    return spec, mode


def run(spec: Spec, mode: Mode, show_progress: bool | None = None) -> dict[str, Any]:
    """Execute a prepared job and return its result (trial metrics, or the enjoy return)."""
    if mode.kind == "enjoy":
        return {"mean_return": enjoy(spec, find_model(mode.target or ""))}
    from slm_lab.control.trial import Trial

    level = logging.DEBUG if mode.kind == "dev" else logging.INFO
    trial_dir = io.new_run_dir(spec.name)
    setup_logging(level, trial_dir / "log.txt")
    logger.info(f"{mode.kind} {spec.name}: writing to {trial_dir}")
    metrics = Trial(spec, trial_dir, 0, show_progress).run()
    metrics["run_dir"] = str(trial_dir)
    return metrics


def enjoy(spec: Spec, model_path: Path, episodes: int | None = None) -> float:
    """Replay a saved model greedily for `episodes` (default meta.eval_episodes) and return the mean."""
    from slm_lab.aeb import AgentSpace, EnvSpace
    from slm_lab.control.session import evaluate, load_checkpoint
    from slm_lab.env.gymnasium import GymEnv
    from slm_lab.lib.seeding import derive_seed, seed_everything

    seed = derive_seed(spec.meta.seed, 0, 0) + 17
    seed_everything(seed)
    env_space = EnvSpace(spec, seed)
    agent = AgentSpace(spec, env_space, seed).agents[0]
    agent.load_state_dict(load_checkpoint(model_path), weights_only=True)
    eval_env = GymEnv(spec.env[0], seed, num_envs=episodes or spec.meta.eval_episodes)
    try:
        return evaluate(agent, eval_env)
    finally:
        eval_env.close()
        env_space.close()
