"""Session: one run of the AEB space with one seed, in the loop of DESIGN.md §3."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.agent.algorithm import Algorithm
from slm_lab.env.gymnasium import GymEnv
from slm_lab.lib import io
from slm_lab.lib.logger import get_logger
from slm_lab.lib.seeding import derive_seed, seed_everything
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

COLUMNS = ["frame", "opt_step", "episode", "wall_t", "fps", "return", "return_ma", "loss", "entropy", "explore_var", "lr"]
GRAPH_REFRESH_S = 300.0  # long runs refresh graphs at most this often, never per step

ProgressFn = Callable[[int, dict[str, Any]], None]


class SessionDiverged(RuntimeError):
    """A loss or a parameter became NaN or inf."""


def evaluate(agent: Algorithm, env: GymEnv) -> float:
    """Mean return of one greedy episode in each body of the eval env."""
    state = env.reset()
    returns = np.zeros(env.num_bodies)
    running = np.ones(env.num_bodies, dtype=bool)
    while running.any():
        result = env.step(agent.act_greedy(state))
        returns += np.where(running, result.reward, 0.0)
        running &= ~(result.terminated | result.truncated)
        state = result.state
    env.drain_finished()
    return float(returns.mean())


def save_checkpoint(agent: Algorithm, path: Path) -> None:
    import torch

    io.atomic_write(path, lambda f: torch.save(agent.state_dict(), f), binary=True)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Only tensors and plain containers: never unpickles arbitrary objects."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


class Session:
    """One seed, one run: trains, evaluates every `eval_frequency` frames, writes the session folder."""

    def __init__(self, spec: Spec, session_dir: Path, trial: int = 0, session: int = 0, progress: ProgressFn | None = None) -> None:
        self.spec = spec
        self.dir = Path(session_dir)
        self.index = session
        self.seed = derive_seed(spec.meta.seed, trial, session)
        self.progress = progress
        self.meta = spec.meta
        self.train_rows: list[dict[str, float]] = []
        self.eval_rows: list[dict[str, float]] = []
        self.returns_window: deque[float] = deque(maxlen=self.meta.ma_window)
        self.eval_window: deque[float] = deque(maxlen=self.meta.ma_window)
        self.pending_returns: list[float] = []
        self.best_eval = -math.inf
        self.tb = None

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        import torch

        # small nets: extra intra-op threads cost more in sync than they give (perf notes)
        torch.set_num_threads(1)
        seed_everything(self.seed)
        self.dir.mkdir(parents=True, exist_ok=True)
        env_space = EnvSpace(self.spec, self.seed)
        agent_space = AgentSpace(self.spec, env_space, self.seed)
        self.env, self.agent = env_space.envs[0], agent_space.agents[0]
        self.eval_env = GymEnv(self.spec.env[0], self.seed + 1_000_003, num_envs=self.meta.eval_episodes)
        if self.meta.tensorboard:
            from slm_lab.analysis.tensorboard import ScalarLogger

            self.tb = ScalarLogger(self.dir / "tensorboard")
        next_log, next_eval = self.meta.log_frequency, self.meta.eval_frequency
        self.last_row_t, self.last_row_frame, self.last_graph_t = time.perf_counter(), 0, time.perf_counter()
        logger.info(f"session {self.index} starts: seed {self.seed}, {self.env.num_bodies} bodies, {self.env.clock.max_frame} frames")
        try:
            state_space = env_space.reset()
            while not env_space.done():
                action_space = agent_space.act(state_space)
                step_space = env_space.step(action_space)
                agent_space.update(state_space, action_space, step_space)
                state_space = {e: s.state for e, s in step_space.items()}
                frame = self.env.clock.frame
                if frame >= next_log:
                    self.log_row()
                    next_log += self.meta.log_frequency
                if frame >= next_eval:
                    self.eval_row()
                    next_eval += self.meta.eval_frequency
            if not self.train_rows or self.train_rows[-1]["frame"] != self.env.clock.frame:
                self.log_row()
            if not self.eval_rows or self.eval_rows[-1]["frame"] != self.env.clock.frame:
                self.eval_row()
        finally:
            env_space.close()
            self.eval_env.close()
            if self.tb is not None:
                self.tb.close()
        return self.finish()

    # --- records --------------------------------------------------------------------------

    def _common(self) -> dict[str, float]:
        clock = self.env.clock
        now = time.perf_counter()
        fps = (clock.frame - self.last_row_frame) / max(now - self.last_row_t, 1e-9)
        self.last_row_t, self.last_row_frame = now, clock.frame
        return {"frame": clock.frame, "opt_step": self.agent.opt_step, "episode": clock.episode, "wall_t": round(clock.wall_t, 3), "fps": round(fps, 1)}

    def log_row(self) -> None:
        new = [ret for _, ret, _ in self.env.drain_finished()]
        self.returns_window.extend(new)
        stats = self.agent.drain_stats()
        self._check_finite(stats)
        row = self._common()
        row.update({
            "return": float(np.mean(new)) if new else (self.train_rows[-1]["return"] if self.train_rows else math.nan),
            "return_ma": float(np.mean(self.returns_window)) if self.returns_window else math.nan,
            **stats,
        })
        self.train_rows.append(row)
        io.write_csv(self.dir / "train.csv", pd.DataFrame(self.train_rows, columns=COLUMNS))
        logger.info(
            f"session {self.index} frame {row['frame']} episode {row['episode']} return_ma {row['return_ma']:.2f} "
            f"loss {row['loss']:.4g} fps {row['fps']:.0f}"
        )
        if self.tb is not None:
            self.tb.log({f"train/{k}": row[k] for k in ("return", "return_ma", "loss", "entropy", "explore_var", "lr", "fps")}, row["frame"])
        if self.progress is not None:
            self.progress(self.index, {"frame": row["frame"], "max_frame": self.env.clock.max_frame, "return_ma": row["return_ma"], "fps": row["fps"]})
        if time.perf_counter() - self.last_graph_t > GRAPH_REFRESH_S:
            self.last_graph_t = time.perf_counter()
            self._analyze(final=False)

    def eval_row(self) -> None:
        ret = evaluate(self.agent, self.eval_env)
        self.eval_window.extend([ret] * self.meta.eval_episodes)
        row = self._common()
        last = self.train_rows[-1] if self.train_rows else {}
        row.update({
            "return": ret,
            "return_ma": float(np.mean(self.eval_window)),
            **{k: last.get(k, math.nan) for k in ("loss", "entropy", "explore_var", "lr")},
        })
        self.eval_rows.append(row)
        io.write_csv(self.dir / "eval.csv", pd.DataFrame(self.eval_rows, columns=COLUMNS))
        if self.tb is not None:
            self.tb.log({"eval/return": ret, "eval/return_ma": row["return_ma"]}, row["frame"])
        save_checkpoint(self.agent, self.dir / "model" / "latest.pt")
        if ret >= self.best_eval:
            self.best_eval = ret
            save_checkpoint(self.agent, self.dir / "model" / "best.pt")
        logger.info(f"session {self.index} eval at frame {row['frame']}: return {ret:.2f}")

    def _check_finite(self, stats: dict[str, float]) -> None:
        # a non-finite mean loss after training steps happened means a NaN/inf loss, not "no training yet"
        trained = self.agent.opt_step > (int(self.train_rows[-1]["opt_step"]) if self.train_rows else 0)
        if trained and not math.isfinite(stats["loss"]):
            raise SessionDiverged(f"loss became {stats['loss']} at frame {self.env.clock.frame}")
        for name, net in self.agent.nets.items():
            if not all(bool(p.detach().isfinite().all()) for p in net.parameters()):
                raise SessionDiverged(f"a parameter of {name} became NaN or inf at frame {self.env.clock.frame}")

    def _analyze(self, final: bool) -> dict[str, Any]:
        from slm_lab.analysis import session_end

        return session_end(self.dir, self.spec, final=final)

    def finish(self) -> dict[str, Any]:
        metrics = self._analyze(final=True)
        logger.info(f"session {self.index} done: final_return_ma {metrics.get('final_return_ma', math.nan):.2f}")
        return metrics


def run_session(spec_dict: dict[str, Any], session_dir: str, trial: int, session: int, queue: Any = None, log_level: int = logging.INFO, log_to_stderr: bool = True) -> dict[str, Any]:
    """Entry point of a spawned session process: one torch thread, its own log file."""
    import torch

    from slm_lab.lib.logger import setup_logging

    torch.set_num_threads(1)
    setup_logging(log_level, Path(session_dir) / "session.log", stderr=log_to_stderr)
    spec = Spec.model_validate(spec_dict)
    progress = (lambda idx, info: queue.put((idx, info))) if queue is not None else None
    return Session(spec, Path(session_dir), trial, session, progress).run()
