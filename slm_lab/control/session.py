"""Session: one run of the AEB space with one seed, in the loop of DESIGN.md §3."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from slm_lab.aeb import AgentSpace, EnvSpace
from slm_lab.agent.algorithm import Algorithm
# the checkpoint layer below the session; these names are looked up here at call time (tests wrap them)
from slm_lab.control.checkpoint import (load_checkpoint, mark_session_done, restore_session,  # noqa: F401
                                        save_checkpoint, save_session_checkpoint)
from slm_lab.control.pairs import finite_mean, pair_spec, team_spec
from slm_lab.control.recorder import COLUMNS, PairRecorder, evaluate_env
from slm_lab.env.factory import make_env
from slm_lab.env.gymnasium import GymEnv
from slm_lab.lib.layout import SessionLayout, TableLayout
from slm_lab.lib.logger import get_logger
from slm_lab.lib.signals import StopRequest, stop_signals
from slm_lab.lib.seeding import derive_seed, seed_everything
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec

logger = get_logger(__name__)

GRAPH_REFRESH_S = 300.0  # long runs refresh graphs at most this often, never per step

ProgressFn = Callable[[int, dict[str, Any]], None]


class SessionDiverged(RuntimeError):
    """A loss or a parameter became NaN or inf."""


class SessionInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped the session at a safe point, after its checkpoint was saved."""


DIVERGED_HINT = "look for NaN/inf in the env's rewards or observations, or lower the learning rate"


def evaluate(agent: Algorithm, env: GymEnv) -> float:
    """Mean return of one greedy episode in each body of the eval env."""
    return float(evaluate_env(env, [(agent, list(range(env.num_bodies)))]).mean())


def _first_pair(name: str) -> property:
    """An attribute of the first pair's recorder, seen as an attribute of the session."""
    return property(lambda self: getattr(self.recorders[0], name), lambda self, value: setattr(self.recorders[0], name, value))


class Session:
    """One seed, one run: trains, evaluates every `eval_frequency` frames, writes the session folder.

    One agent in one env writes its tables into the session folder; several (agent, env)
    pairs each write into `a{a}_e{e}/` inside it (recorder.py).
    """

    def __init__(self, spec: Spec, session_dir: Path, trial: int = 0, session: int = 0, on_progress: ProgressFn | None = None,
                 resume: bool = False) -> None:
        self.spec = spec
        self.resume = resume  # continue from its checkpoint (control/checkpoint.py)
        self.dir = Path(session_dir)
        self.index = session
        self.seed = derive_seed(spec.meta.seed, trial, session)
        self.on_progress = on_progress
        self.meta = spec.meta
        self.recorders: list[PairRecorder] = []
        self.team_recorders: list[tuple[str, list[int], PairRecorder]] = []  # (team, its agents, records)
        self.best_evals: list[float] = [-math.inf] * len(spec.agent)
        self.tb = None
        self.layout = SessionLayout(self.dir)
        # per env: the observations the agents act on next (saved with a checkpoint so that an
        # exact resume needs no reset); None for an env a resume could not restore
        self.obs: dict[int, np.ndarray | None] = {}
        self._warned: set[str] = set()

    # the first pair's records, under short names for a session with one (agent, env) pair
    train_rows = _first_pair("train_rows")
    eval_rows = _first_pair("eval_rows")
    returns_window = _first_pair("returns_window")
    eval_window = _first_pair("eval_window")
    last_row_frame = _first_pair("last_row_frame")

    @property
    def best_eval(self) -> float:
        return self.best_evals[0]

    @best_eval.setter
    def best_eval(self, value: float) -> None:
        self.best_evals[0] = value

    # --- the loop -------------------------------------------------------------------------

    def _build(self) -> None:
        self.env_space = EnvSpace(self.spec, self.seed)
        self.agent_space = AgentSpace(self.spec, self.env_space, self.seed, session=self.index)
        self.env, self.agent = self.env_space.envs[0], self.agent_space.agents[0]
        pairs = self.agent_space.pairs
        self.multi = len(pairs) > 1
        for a, e in pairs:
            folder = self.layout.pair(a, e).dir if self.multi else self.dir
            self.recorders.append(PairRecorder(a, e, self.agent_space.assignment[(a, e)], self.env_space.envs[e],
                                               self.agent_space.agents[a], folder, self.meta.ma_window))
        # agents sharing a team name in one env: the team's records over all its bodies
        from slm_lab.spec.aeb_check import team_envs

        for team, e, members in team_envs(self.spec):
            bodies = sorted(b for a in members for b in self.agent_space.assignment[(a, e)])
            rec = PairRecorder(members[0], e, bodies, self.env_space.envs[e], self.agent_space.agents[members[0]],
                               TableLayout(self.dir).team(team, e).dir, self.meta.ma_window)
            self.team_recorders.append((team, members, rec))
        # one eval env per env; it plays whole games with raw rewards and the training env's frozen obs statistics.
        # An env with one agent gets eval_episodes bodies; a multi-agent env keeps its bodies and their owners.
        self.eval_envs, self.eval_actors = [], []
        for e, env in enumerate(self.env_space.envs):
            owners = [(a, self.agent_space.assignment[(a, pe)]) for a, pe in pairs if pe == e]
            solo = len(owners) == 1
            eval_env = make_env(self.spec.env[e], self.seed + 1_000_003 + 1000 * e,
                                num_envs=self.meta.eval_episodes if solo else None, train_env=env)
            self.eval_envs.append(eval_env)
            self.eval_actors.append([(self.agent_space.agents[a], list(range(eval_env.num_bodies)) if solo else bodies)
                                     for a, bodies in owners])

    def run(self) -> dict[str, Any]:
        import torch

        # small nets: extra intra-op threads cost more in sync than they give (perf notes);
        # meta.torch_threads raises it for big batches in a session that has cores to spare
        torch.set_num_threads(self.meta.torch_threads)
        seed_everything(self.seed)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.eval_envs = []
        try:
            self._build()
            if self.meta.tensorboard:
                from slm_lab.analysis.tensorboard import ScalarLogger

                self.tb = ScalarLogger(self.layout.tensorboard_dir)
            self.next_log, self.next_eval = self.meta.log_frequency, self.meta.eval_frequency
            ckpt_frequency = self.meta.checkpoint_frequency or self.meta.eval_frequency
            self.next_ckpt = ckpt_frequency
            self.last_graph_t = time.perf_counter()
            # set-up (the first optimizer alone imports torch._dynamo, ~1 s) is not training time:
            # wall_t and the first row's fps start here, as SB3's learn() and the lean loop's timer do
            for env in self.env_space.envs:
                env.clock.restart()
            for rec in self.recorders:
                rec.last_row_t = time.perf_counter()
            if not self.resume or not restore_session(self, COLUMNS):
                for rec in self.recorders:
                    rec.start_fresh()
            logger.info(f"session {self.index} starts: seed {self.seed}, "
                        f"{', '.join(f'{env.spec.name} x{env.num_bodies}' for env in self.env_space.envs)} bodies, "
                        f"{self.env.clock.max_frame} frames")
            with stop_signals() as stop:
                self._loop(stop, ckpt_frequency)
        except Exception as e:
            # NaN weights often fail elsewhere first (e.g. sampling from NaN logits): name the cause
            broken = self._nonfinite_net()
            if broken is not None and not isinstance(e, SessionDiverged):
                raise SessionDiverged(f"diverged at frame {self.env.clock.frame}: a parameter of {broken} became "
                                      f"NaN or inf ({DIVERGED_HINT})") from e
            raise
        finally:
            if hasattr(self, "env_space"):
                self.env_space.close()
            for env in self.eval_envs:
                env.close()
            if self.tb is not None:
                self.tb.close()
        return self.finish()

    def _loop(self, stop: StopRequest, ckpt_frequency: int) -> None:
        """DESIGN.md's loop; Ctrl-C / SIGTERM (lib/signals.py) stop it between two steps, with a checkpoint."""
        env_space, agent_space = self.env_space, self.agent_space
        state_space = self.obs = self._first_states()
        while not env_space.done():
            if stop.requested:  # a safe point: the last step is stored, its rows written
                self.save_resume_checkpoint()
                raise SessionInterrupted(f"session {self.index} stopped at frame {self.env.clock.frame}")
            action_space = agent_space.act(state_space)
            step_space = env_space.step(action_space)
            agent_space.update(state_space, action_space, step_space)
            state_space = self.obs = {e: s.state for e, s in step_space.items()}
            frame = self.env.clock.frame
            if frame >= self.next_log:
                self.log_row()
                self.next_log += self.meta.log_frequency
            if frame >= self.next_eval:
                self.eval_row()
                self.next_eval += self.meta.eval_frequency
            if frame >= self.next_ckpt:  # after the rows of this frame: a resume keeps them
                self.next_ckpt += ckpt_frequency
                self.save_resume_checkpoint()
        if not self.train_rows or self.train_rows[-1]["frame"] != self.env.clock.frame:
            self.log_row()
        if not self.eval_rows or self.eval_rows[-1]["frame"] != self.env.clock.frame:
            self.eval_row()
        self.save_resume_checkpoint()  # the final state: a larger max_frame can go on from it

    # --- records --------------------------------------------------------------------------

    def log_row(self) -> None:
        finished = {e: env.drain_finished() for e, env in enumerate(self.env_space.envs)}
        stats = [agent.drain_stats() for agent in self.agent_space.agents]
        self._check_finite(stats)
        for rec in self.recorders:
            row = rec.train_row(finished[rec.e], stats[rec.a], per_body=self.multi or rec.env.num_bodies > 1)
            tag = f"{rec.label}/" if self.multi else ""
            logger.info(
                f"session {self.index} {tag}frame {row['frame']} episode {row['episode']} return_ma {row['return_ma']:.2f} "
                f"loss {row['loss']:.4g} fps {row['fps']:.0f}"
            )
            if self.tb is not None:
                names = ("return", "return_ma", "fps", *rec.agent.stat_names())
                self.tb.log({f"{tag}train/{k}": row[k] for k in names}, row["frame"])
        for _, members, rec in self.team_recorders:  # a team's statistics: the mean over its agents
            team_stats = {k: finite_mean([stats[a].get(k, math.nan) for a in members]) for k in stats[members[0]]}
            rec.train_row(finished[rec.e], team_stats, per_body=True)
        row = self.recorders[0].train_rows[-1]
        if self.on_progress is not None:
            self.on_progress(self.index, {"frame": row["frame"], "max_frame": self.env.clock.max_frame, "return_ma": row["return_ma"], "fps": row["fps"]})
        if time.perf_counter() - self.last_graph_t > GRAPH_REFRESH_S:
            self.last_graph_t = time.perf_counter()
            self._analyze(final=False)

    def eval_row(self) -> None:
        agent_returns: dict[int, list[float]] = {}
        for e, eval_env in enumerate(self.eval_envs):
            body_returns = evaluate_env(eval_env, self.eval_actors[e])
            for (agent, bodies), rec in zip(self.eval_actors[e], [r for r in self.recorders if r.e == e]):
                ret = float(body_returns[bodies].mean())
                row = rec.eval_row(ret, len(bodies))
                agent_returns.setdefault(rec.a, []).append(ret)
                tag = f"{rec.label}/" if self.multi else ""
                if self.tb is not None:
                    self.tb.log({f"{tag}eval/return": ret, f"{tag}eval/return_ma": row["return_ma"]}, row["frame"])
                logger.info(f"session {self.index} {tag}eval at frame {row['frame']}: return {ret:.2f}")
            for _, _, rec in self.team_recorders:
                if rec.e == e:
                    team_bodies = sorted(rec.bodies)
                    rec.eval_row(float(body_returns[team_bodies].mean()), len(team_bodies))
        for a, agent in enumerate(self.agent_space.agents):
            env = self.env_space.envs[self.agent_space.parts[a][0][0]]  # every agent's policy with its env's statistics
            save_checkpoint(agent, self.layout.agent_model(a, "latest"), env)
            ret = float(np.mean(agent_returns.get(a, [-math.inf])))
            if ret >= self.best_evals[a]:
                self.best_evals[a] = ret
                save_checkpoint(agent, self.layout.agent_model(a, "best"), env)

    def _nonfinite_net(self) -> str | None:
        """The name of the first net (of any agent) with a NaN or inf parameter, else None."""
        agents = self.agent_space.agents if hasattr(self, "agent_space") else []
        for agent in agents:
            for name, net in agent.nets.items():
                if not all(bool(p.detach().isfinite().all()) for p in net.parameters()):
                    return name
        return None

    def save_resume_checkpoint(self) -> None:
        broken = self._nonfinite_net()  # never checkpoint a diverged state to resume from
        if broken is not None:
            raise SessionDiverged(f"diverged at frame {self.env.clock.frame}: a parameter of {broken} became NaN or inf ({DIVERGED_HINT})")
        save_session_checkpoint(self)

    def _check_finite(self, stats: list[dict[str, float]]) -> None:
        # a non-finite mean loss after training steps happened means a NaN/inf loss, not "no training yet"
        for rec in self.recorders:
            last_opt = int(rec.train_rows[-1]["opt_step"]) if rec.train_rows else 0
            loss = stats[rec.a]["loss"]
            if rec.agent.opt_step > last_opt and not math.isfinite(loss):
                raise SessionDiverged(f"diverged at frame {self.env.clock.frame}: the loss became {loss} ({DIVERGED_HINT})")
        broken = self._nonfinite_net()
        if broken is not None:
            raise SessionDiverged(f"diverged at frame {self.env.clock.frame}: a parameter of {broken} became NaN or inf ({DIVERGED_HINT})")

    # --- state ----------------------------------------------------------------------------

    def warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            logger.warning(message)

    def _first_states(self) -> dict[int, np.ndarray]:
        """Each env's first observations: where a resume restored the env, the saved ones."""
        return {e: self.obs[e] if self.obs.get(e) is not None else env.reset() for e, env in enumerate(self.env_space.envs)}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint holds of this session and of what it owns: agents, envs, pair records
        (memories go beside it: control/checkpoint.py)."""
        import torch

        return {
            "frame": int(self.env.clock.frame),
            "agents": [agent.state_dict() for agent in self.agent_space.agents],
            "agent_space": self.agent_space.state_dict(),
            "envs": [env.state_dict() for env in self.env_space.envs],
            "session": {
                "next_log": int(self.next_log), "next_eval": int(self.next_eval), "next_ckpt": int(self.next_ckpt),
                "best_evals": [float(x) for x in self.best_evals],
                "pairs": [rec.state_dict() for rec in self.recorders],  # in the session's pair order
                "obs": {str(e): torch.from_numpy(np.array(obs)) for e, obs in self.obs.items()},
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> bool:
        """Restore agents, envs, then the records (a pair's rows count its own env's frames).
        True when every env's simulation came back: the run then goes on without a reset."""
        for agent, agent_state in zip(self.agent_space.agents, state["agents"]):
            agent.load_state_dict(agent_state)
        self.agent_space.load_state_dict(state.get("agent_space", {}))
        envs_back = [env.load_state_dict(env_state) for env, env_state in zip(self.env_space.envs, state["envs"])]
        s = state["session"]
        # checkpoints written before sessions with several pairs could resume held the first pair's windows only
        pairs = s.get("pairs") or [{"returns_window": s["returns_window"], "eval_window": s["eval_window"]}]
        best_evals = s.get("best_evals") or [s["best_eval"]]
        if len(pairs) != len(self.recorders) or len(best_evals) != len(self.best_evals):
            raise SpecError(f"{self.layout.checkpoint}: saved for {len(pairs)} (agent, env) pairs, "
                            f"the spec has {len(self.recorders)}")
        self.next_log, self.next_eval, self.next_ckpt = s["next_log"], s["next_eval"], s["next_ckpt"]
        self.best_evals = [float(x) for x in best_evals]
        for rec, pair in zip(self.recorders, pairs):
            rec.load_state_dict(pair)
        saved_obs = s.get("obs", {})
        self.obs = {e: saved_obs[str(e)].numpy() if back and str(e) in saved_obs else None for e, back in enumerate(envs_back)}
        return all(obs is not None for obs in self.obs.values())

    def _analyze(self, final: bool) -> dict[str, Any]:
        from slm_lab.analysis import session_end

        results = [session_end(rec.dir, pair_spec(self.spec, rec.a, rec.e) if self.multi else self.spec, final=final)
                   for rec in self.recorders]
        for team, members, rec in self.team_recorders:
            session_end(rec.dir, team_spec(self.spec, team, rec.e, members), final=final)
        return results[0]

    def finish(self) -> dict[str, Any]:
        metrics = self._analyze(final=True)
        mark_session_done(self.dir, self.env.clock.frame)  # last: the session is finished
        logger.info(f"session {self.index} done: final_return_ma {metrics.get('final_return_ma', math.nan):.2f}")
        return metrics


def freeze_before_first_session(spec: Spec) -> None:
    """In the lab's own process (the CLI's, a session worker), before its first Session exists:
    freeze what lives as long as the process (lib/collector.py). The caller does it, not the
    Session: an object made before the freeze is frozen with it, and a session's objects must
    stay collectable (a worker runs the next session, a CLI the next job)."""
    from slm_lab.agent.algorithm import ALGORITHMS
    from slm_lab.lib import collector

    collector.freeze_before_session(trains=any(getattr(ALGORITHMS.get(a.algorithm.name), "TRAINS", True)
                                                for a in spec.agent))


def run_session(spec_dict: dict[str, Any], session_dir: str, trial: int, session: int, queue: Any = None, log_level: int = logging.INFO, log_to_stderr: bool = True, resume: bool = False) -> dict[str, Any]:
    """Entry point of a spawned session process: its own log file (Session.run sets its torch threads)."""
    from slm_lab.lib import pids
    from slm_lab.lib.logger import setup_logging

    pids.exit_with_parent()  # a killed `slm-lab run` must not leave this session writing its folder
    setup_logging(log_level, SessionLayout(Path(session_dir)).log_file, stderr=log_to_stderr)
    spec = Spec.model_validate(spec_dict)
    freeze_before_first_session(spec)
    on_progress = (lambda idx, info: queue.put((idx, info))) if queue is not None else None
    with pids.registered("session", run_dir=Path(session_dir).parent):
        return Session(spec, Path(session_dir), trial, session, on_progress, resume).run()
