"""Per (agent, env) records of a session: training and evaluation tables, return windows.

A session with one agent in one env writes its tables straight into the session folder; with
several pairs each pair writes into `session_j/a{a}_e{e}/`, so every env and every agent of a
multi-env or multi-agent spec has its own curves, metrics and graphs. Rows are appended to the
tables one line at a time (lib/tables.py); a recorder's state is its return windows and episode
count, and a resume cuts its tables back to the checkpoint (`load_state_dict`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from slm_lab.aeb import place_actions, take_bodies
from slm_lab.lib.layout import TableLayout, pair_name
from slm_lab.lib.tables import append_row, read_table, write_table

COLUMNS = ["frame", "opt_step", "episode", "wall_t", "fps", "return", "return_ma", "loss", "entropy", "explore_var", "lr"]
"""eval.csv's columns, and the first ones of train.csv; the algorithm's own statistics follow them there."""


def train_columns(agent: Any) -> list[str]:
    """train.csv's columns for this agent: COLUMNS, then the named statistics its algorithm adds."""
    return COLUMNS + [k for k in agent.stat_names() if k not in COLUMNS]


BODY_COLUMNS = ["frame", "body", "return", "length"]


class PairRecorder:
    """Rows for the bodies of agent `a` in env `e`."""

    def __init__(self, a: int, e: int, bodies: list[int], env: Any, agent: Any, folder: Path, ma_window: int) -> None:
        self.a, self.e = a, e
        self.bodies = set(bodies)
        self.env, self.agent = env, agent
        self.train_columns = train_columns(agent)
        self.dir = Path(folder)
        self.layout = TableLayout(self.dir)
        self.train_rows: list[dict[str, float]] = []
        self.eval_rows: list[dict[str, float]] = []
        self.body_rows: list[dict[str, float]] = []
        self.returns_window: deque[float] = deque(maxlen=ma_window)
        self.eval_window: deque[float] = deque(maxlen=ma_window)
        self.episodes = 0
        self.last_row_t, self.last_row_frame = time.perf_counter(), 0

    @property
    def label(self) -> str:
        return pair_name(self.a, self.e)

    def _common(self) -> dict[str, float]:
        clock = self.env.clock
        now = time.perf_counter()
        fps = (clock.frame - self.last_row_frame) / max(now - self.last_row_t, 1e-9)
        self.last_row_t, self.last_row_frame = now, clock.frame
        episode = clock.episode if len(self.bodies) == self.env.num_bodies else self.episodes
        return {"frame": clock.frame, "opt_step": self.agent.opt_step, "episode": episode,
                "wall_t": round(clock.wall_t, 3), "fps": round(fps, 1)}

    def train_row(self, finished: list[tuple[int, float, int]], stats: dict[str, float], per_body: bool) -> dict[str, float]:
        """Append a training row from the episodes of this pair's bodies that ended since the last row."""
        mine = [(b, r, n) for b, r, n in finished if b in self.bodies]
        new = [r for _, r, _ in mine]
        self.episodes += len(new)
        self.returns_window.extend(new)
        row = self._common()
        row.update({
            "return": float(np.mean(new)) if new else (self.train_rows[-1]["return"] if self.train_rows else math.nan),
            "return_ma": float(np.mean(self.returns_window)) if self.returns_window else math.nan,
            **stats,
        })
        self.train_rows.append(row)
        append_row(self.layout.train_csv, row, self.train_columns)
        if per_body and mine:  # per-body curves: every finished episode of every body
            for b, r, n in mine:
                body_row = {"frame": row["frame"], "body": b, "return": r, "length": n}
                self.body_rows.append(body_row)
                append_row(self.layout.bodies_csv, body_row, BODY_COLUMNS)
        return row

    def eval_row(self, ret: float, n_episodes: int) -> dict[str, float]:
        self.eval_window.extend([ret] * n_episodes)
        row = self._common()
        last = self.train_rows[-1] if self.train_rows else {}
        row.update({
            "return": ret,
            "return_ma": float(np.mean(self.eval_window)),
            **{k: last.get(k, math.nan) for k in ("loss", "entropy", "explore_var", "lr")},
        })
        self.eval_rows.append(row)
        append_row(self.layout.eval_csv, row, COLUMNS)
        return row

    # --- resume ---------------------------------------------------------------------------

    def start_fresh(self) -> None:
        """Remove tables a previous run left in this folder: rows are appended to them."""
        for path in self.layout.tables:
            path.unlink(missing_ok=True)

    def state_dict(self) -> dict[str, Any]:
        """The return windows and the episode count (the rows themselves are the tables on disk)."""
        return {"returns_window": [float(x) for x in self.returns_window],
                "eval_window": [float(x) for x in self.eval_window], "episodes": int(self.episodes)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Windows and episodes as saved, and the tables cut back to this pair's env frame (the
        env is restored first): rows written after the checkpoint belong to the lost stretch."""
        frame = int(self.env.clock.frame)
        self.returns_window = deque(state["returns_window"], maxlen=self.returns_window.maxlen)
        self.eval_window = deque(state["eval_window"], maxlen=self.eval_window.maxlen)
        self.train_rows = self._rewind(self.layout.train_csv, frame, self.train_columns)
        self.eval_rows = self._rewind(self.layout.eval_csv, frame, COLUMNS)
        self.body_rows = self._rewind(self.layout.bodies_csv, frame, BODY_COLUMNS)
        # checkpoints written before the count was saved: the last kept row's
        self.episodes = int(state.get("episodes", self.train_rows[-1]["episode"] if self.train_rows else 0))
        self.last_row_frame = frame

    @staticmethod
    def _rewind(path: Path, frame: int, columns: list[str]) -> list[dict[str, Any]]:
        table = read_table(path)
        if table.empty:
            if path.is_file():
                write_table(path, [], columns)
            return []
        rows = [{c: row.get(c, math.nan) for c in columns} for row in table.where(table["frame"] <= frame).rows()]
        write_table(path, rows, columns)
        return rows


def evaluate_env(env: Any, actors: list[tuple[Any, list[int]]]) -> np.ndarray:
    """One greedy episode in every body of `env`; each actor (agent, its body indices) acts for
    its bodies. Returns the return of each body."""
    state = env.reset()
    for agent, _ in actors:  # a greedy policy with memory starts every body's episode afresh
        agent.reset_greedy_state()
    returns = np.zeros(env.num_bodies)
    running = np.ones(env.num_bodies, dtype=bool)
    while running.any():
        if len(actors) == 1 and len(actors[0][1]) == env.num_bodies:
            action = actors[0][0].act_greedy(take_bodies(state, None, actors[0][0].spaces.obs_dim))
        else:  # each agent sees its own bodies' columns (a multi-agent env pads them to the widest)
            action = None
            for agent, bodies in actors:
                act = agent.act_greedy(take_bodies(state, bodies, agent.spaces.obs_dim))
                action = place_actions(act, action, env.num_bodies, bodies)
        result = env.step(action)
        returns += np.where(running, result.reward, 0.0)
        done = result.terminated | result.truncated
        running &= ~done
        if done.any():
            for agent, bodies in actors:
                agent.reset_greedy_state(done[bodies])
        state = result.state
    env.drain_finished()
    return returns
