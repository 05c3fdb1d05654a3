"""The run layout: the one place that names every file and folder of a run.

    <run dir>/                     RunLayout (a trial; a search's trials live under its folder)
      spec.json  log.txt  trial_metrics.json  trial_metrics.csv  report.html
      trial_graph_<kind>.png/.html
      a<a>_e<e>/                   per (agent, env) pair aggregates, when the spec has several
      session_<j>/                 SessionLayout
        train.csv  eval.csv  bodies.csv  metrics.json  session_graph*.png/.html  session.log
        session_done.json  error.txt  tensorboard/  video/
        model/  latest.pt  best.pt  agent<a>_latest.pt  agent<a>_best.pt  checkpoint.pt
                memory_a<a>_f<frame>.npz
        a<a>_e<e>/                 a pair's own tables, metrics and graphs (PairLayout)

    <search dir>/                  ExperimentLayout: spec.json  log.txt  experiment_df.csv  best_spec.json
      experiment_graph.png/.html  report.html  search_plan.json  search_done.json
      search_trials/trial_<i>.json  benchmark_specs.json  trial_<i>/ (a RunLayout each)

Nothing else in the lab spells these names, so a change of layout is a change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SESSION_PREFIX = "session_"
PAIR_PATTERN = re.compile(r"^a\d+_e\d+$")
SESSION_PATTERN = re.compile(r"^session_(\d+)$")


def pair_name(a: int, e: int) -> str:
    """`a<a>_e<e>`: the folder (and label) of agent a's bodies in env e."""
    return f"a{a}_e{e}"


def team_name(team: str, e: int) -> str:
    """`team_<team>_e<e>`: the folder (and label) of a team's aggregate in env e."""
    return f"team_{team}_e{e}"


@dataclass(frozen=True)
class TableLayout:
    """The tables, metrics and graphs one (agent, env) pair writes: a session folder with a
    single pair, or its `a<a>_e<e>/` sub-folder (and the same for a trial's aggregates)."""

    dir: Path

    @property
    def train_csv(self) -> Path:
        return self.dir / "train.csv"

    @property
    def eval_csv(self) -> Path:
        return self.dir / "eval.csv"

    @property
    def bodies_csv(self) -> Path:
        return self.dir / "bodies.csv"

    @property
    def tables(self) -> tuple[Path, Path, Path]:
        return self.train_csv, self.eval_csv, self.bodies_csv

    @property
    def metrics_json(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def session_graph(self) -> Path:
        """The prefix of the session graph (`.png` and `.html` follow it)."""
        return self.dir / "session_graph"

    def session_graphs(self) -> list[Path]:
        return sorted(self.dir.glob("session_graph*"))

    def trial_graph(self, kind: str) -> Path:
        """The prefix of a trial graph of `kind` (return, strength, ...)."""
        return self.dir / f"trial_graph_{kind}"

    def trial_graphs(self) -> list[Path]:
        return sorted(self.dir.glob("trial_graph_*.png"))

    @property
    def trial_metrics_json(self) -> Path:
        return self.dir / "trial_metrics.json"

    @property
    def trial_metrics_csv(self) -> Path:
        return self.dir / "trial_metrics.csv"

    @property
    def report_html(self) -> Path:
        return self.dir / "report.html"

    def pair(self, a: int, e: int) -> TableLayout:
        return TableLayout(self.dir / pair_name(a, e))

    def team(self, team: str, e: int) -> TableLayout:
        return TableLayout(self.dir / team_name(team, e))

    def pair_folders(self) -> list[Path]:
        """The `a<a>_e<e>/` folders inside this one."""
        return sorted(p for p in self.dir.glob("a*_e*") if p.is_dir() and PAIR_PATTERN.match(p.name))


@dataclass(frozen=True)
class SessionLayout(TableLayout):
    """Everything one session writes."""

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    @property
    def checkpoint(self) -> Path:
        """The resumable state of the whole session (control/checkpoint.py)."""
        return self.model_dir / "checkpoint.pt"

    def agent_model(self, a: int, kind: str) -> Path:
        """`latest.pt` / `best.pt` for agent 0, `agent<a>_latest.pt` / `agent<a>_best.pt` for the others."""
        return self.model_dir / f"{'' if a == 0 else f'agent{a}_'}{kind}.pt"

    def memory_name(self, a: int, frame: int) -> str:
        """The replay memory file of agent a at a checkpoint frame (a name inside model_dir)."""
        return f"memory_a{a}_f{frame}.npz"

    def memory_files(self) -> list[Path]:
        return sorted(self.model_dir.glob("memory_*.npz"))

    @property
    def done_file(self) -> Path:
        return self.dir / "session_done.json"

    @property
    def error_file(self) -> Path:
        return self.dir / "error.txt"

    @property
    def log_file(self) -> Path:
        return self.dir / "session.log"

    @property
    def tensorboard_dir(self) -> Path:
        return self.dir / "tensorboard"

    @property
    def video_dir(self) -> Path:
        return self.dir / "video"

    def outputs(self) -> list[Path]:
        """What a fresh restart of the session removes (its log is kept: it tells what happened)."""
        return [*self.tables, self.metrics_json, self.model_dir, self.tensorboard_dir, self.error_file,
                self.done_file, *self.session_graphs(), *self.pair_folders()]

    @classmethod
    def of_model(cls, model_path: Path) -> SessionLayout:
        """The session that holds `<session dir>/model/<name>.pt` (or a model file beside it)."""
        model_path = Path(model_path)
        parent = model_path.parent
        return cls(parent.parent if parent.name == "model" else parent)


@dataclass(frozen=True)
class RunLayout(TableLayout):
    """A trial's run folder: its spec, log, sessions, aggregates and report."""

    @property
    def spec_json(self) -> Path:
        return self.dir / "spec.json"

    @property
    def log_txt(self) -> Path:
        return self.dir / "log.txt"

    @property
    def error_file(self) -> Path:
        """Why a search trial never ran (its spec was refused)."""
        return self.dir / "error.txt"

    def session(self, j: int) -> SessionLayout:
        return SessionLayout(self.dir / f"{SESSION_PREFIX}{j}")

    def session_name(self, j: int) -> str:
        return f"{SESSION_PREFIX}{j}"

    def sessions(self) -> list[SessionLayout]:
        """The session folders present, in index order."""
        found = [(int(m[1]), p) for p in self.dir.glob(f"{SESSION_PREFIX}*") if (m := SESSION_PATTERN.match(p.name))]
        return [SessionLayout(p) for _, p in sorted(found)]

    @staticmethod
    def session_glob() -> str:
        return f"{SESSION_PREFIX}*"


@dataclass(frozen=True)
class ExperimentLayout(RunLayout):
    """A search's folder: its trials' folders, the experiment table, best spec, graph and report."""

    @property
    def experiment_df_csv(self) -> Path:
        return self.dir / "experiment_df.csv"

    @property
    def best_spec_json(self) -> Path:
        return self.dir / "best_spec.json"

    @property
    def experiment_graph(self) -> Path:
        """The prefix of the experiment graph (`.png` and `.html` follow it)."""
        return self.dir / "experiment_graph"

    @property
    def benchmark_specs_json(self) -> Path:
        return self.dir / "benchmark_specs.json"

    def trial(self, index: int) -> RunLayout:
        """Trial `index`'s own run folder inside the search's."""
        return RunLayout(self.dir / f"trial_{index}")

    # the search's resumable state (control/search_state.py)
    @property
    def search_plan_json(self) -> Path:
        return self.dir / "search_plan.json"

    @property
    def search_done_json(self) -> Path:
        return self.dir / "search_done.json"

    @property
    def search_trials_dir(self) -> Path:
        return self.dir / "search_trials"

    def search_trial_record(self, index: int) -> Path:
        return self.search_trials_dir / f"trial_{index}.json"

    def search_trial_records(self) -> list[Path]:
        folder = self.search_trials_dir
        return sorted(folder.glob("trial_*.json")) if folder.is_dir() else []
