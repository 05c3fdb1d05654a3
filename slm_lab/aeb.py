"""The AEB space: agents x environments x bodies. Thin containers, no learning logic.

A "space" maps an (agent, env) pair to batched arrays with a leading body axis. Every body
of every env belongs to exactly one agent (spec/aeb_check.py). An agent sees one batch: its
bodies from all its envs concatenated, so an algorithm written for one body works for many
bodies, several envs (multitask, one set of weights) and its share of a multi-agent env.
Envs step in lockstep; each keeps its own clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

import numpy as np

from slm_lab.agent import make_agent
from slm_lab.agent.algorithm import Algorithm
from slm_lab.env.factory import make_env
from slm_lab.env.protocol import BodySpaces, StepResult
from slm_lab.lib.device import enable_compile_cache, resolve_device
from slm_lab.spec.aeb_check import Assignment, assign_bodies
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import Spec

Pair = tuple[int, int]  # (agent index, env index)


class EnvSpace:
    """All envs of a session, stepped together; env e gets its own seed stream."""

    def __init__(self, spec: Spec, seed: int) -> None:
        self.envs = []
        try:
            for e, env_spec in enumerate(spec.env):
                self.envs.append(make_env(env_spec, seed + 1000 * e))
        except BaseException:
            self.close()
            raise

    def reset(self) -> dict[int, np.ndarray]:
        return {e: env.reset() for e, env in enumerate(self.envs)}

    def step(self, action_space: dict[int, np.ndarray]) -> dict[int, StepResult]:
        return {e: self.envs[e].step(action_space[e]) for e in range(len(self.envs))}

    def done(self) -> bool:
        # lockstep: the session ends when the first env has used its budget
        return any(env.clock.done() for env in self.envs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def body_spaces(env: Any, bodies: list[int]) -> BodySpaces:
    """The spaces of some bodies of an env: a multi-agent adapter knows each body's own
    (`body_spaces`, a SpecError naming the bodies that disagree); other envs' bodies are alike."""
    if hasattr(env, "body_spaces"):
        return env.body_spaces(bodies)
    return replace(env.spaces, num_bodies=len(bodies))


def _combined_spaces(agent: int, parts: list[tuple[int, list[int]]], envs: list) -> BodySpaces:
    """One BodySpaces for all of an agent's bodies; they must agree on shapes."""
    first_e = parts[0][0]
    try:
        ref = body_spaces(envs[first_e], parts[0][1])
        others = [(e, body_spaces(envs[e], bodies)) for e, bodies in parts[1:]]
    except SpecError as err:
        raise SpecError(f"agent {agent}: {err}") from None
    for e, sp in others:
        # a Tuple / Dict observation's entries must agree too, not only its flat size
        entries, ref_entries = (getattr(s.obs_layout, "entries", None) for s in (sp, ref))
        if (sp.obs_dim, entries, sp.action_dim, sp.action_kind, sp.action_nvec) != \
                (ref.obs_dim, ref_entries, ref.action_dim, ref.action_kind, ref.action_nvec):
            raise SpecError(
                f"agent {agent}: env {e} ({envs[e].spec.name}) has observation size {sp.obs_dim} and "
                f"{sp.action_kind.replace('_', '-')} action size {sp.action_dim}, but env {first_e} "
                f"({envs[first_e].spec.name}) has {ref.obs_dim} and {ref.action_dim}: one net cannot take both"
            )
    return replace(ref, num_bodies=sum(len(bodies) for _, bodies in parts))


def critic_input_dim(agent: int, algo_spec: Any, parts: list[tuple[int, list[int]]], envs: list) -> int | None:
    """The size of a centralized critic's input (`algorithm.critic_input` "joint" / "state"),
    None for a critic of the agent's own observations. Only a multi-agent env that offers
    critic inputs (PettingZoo's parallel API) can give them; all the agent's envs must agree."""
    kind = getattr(algo_spec, "critic_input", "own")
    if kind == "own":
        return None
    dims = {}
    for e, _ in parts:
        env = envs[e]
        if not hasattr(env, "critic_inputs") or getattr(env, "turn_based", False):
            raise SpecError(f"agent {agent}: algorithm.critic_input {kind!r} needs a simultaneous multi-agent env "
                            f"(PettingZoo parallel API); env {e} ({env.spec.name}) is not one")
        try:
            dims[e] = env.critic_dim(kind, algo_spec.critic_body_id)
        except SpecError as err:
            raise SpecError(f"agent {agent}: algorithm.critic_input {kind!r}: {err}") from None
    if len(set(dims.values())) > 1:
        raise SpecError(f"agent {agent}: algorithm.critic_input {kind!r} has sizes {dims} in its envs; one critic cannot take them all")
    return next(iter(dims.values()))


def take_bodies(per_env: np.ndarray, bodies: list[int] | None, width: Any = None) -> np.ndarray:
    """Rows `bodies` (all when None) of an env's batch, cut to an agent's own `width` columns:
    a multi-agent env pads its bodies' observations (and continuous actions) to the widest."""
    rows = per_env if bodies is None else per_env[bodies]
    if isinstance(width, int) and rows.ndim == 2 and rows.shape[1] > width:
        rows = rows[:, :width]
    return rows


def place_actions(actions: np.ndarray, out: np.ndarray | None, num_bodies: int, bodies: list[int]) -> np.ndarray:
    """Write an agent's actions for `bodies` into the env's action batch (made on first use,
    as wide as the widest agent's actions; narrower continuous actions fill the first columns)."""
    if out is None:
        out = np.zeros((num_bodies, *actions.shape[1:]), dtype=actions.dtype)
    if actions.ndim == 2 and out.ndim == 2 and actions.shape[1] != out.shape[1]:
        if actions.shape[1] > out.shape[1]:  # a wider agent came second: widen the batch
            out = np.concatenate([out, np.zeros((num_bodies, actions.shape[1] - out.shape[1]), out.dtype)], axis=1)
        out[bodies, : actions.shape[1]] = actions
    else:
        out[bodies] = actions
    return out


class TurnBuffer:
    """A turn-based env's transitions, one stream per body: a transition opens when the body
    moves and closes at its next turn (s' is the state it then acts on) or at the game's end,
    holding every reward the body got meanwhile (the opponent's winning move included)."""

    def __init__(self, num_bodies: int) -> None:
        self.open: list[list[Any] | None] = [None] * num_bodies  # [state, action, reward so far]
        self.closed: list[deque[tuple]] = [deque() for _ in range(num_bodies)]

    def add_step(self, movers: np.ndarray, state: np.ndarray, action: np.ndarray, result: StepResult, next_movers: np.ndarray) -> None:
        for b in np.flatnonzero(movers):
            self.open[b] = [state[b], action[b], 0.0]
        over = result.terminated | result.truncated
        for b, tr in enumerate(self.open):
            if tr is None:
                continue
            tr[2] += float(result.reward[b])
            if over[b]:
                self.closed[b].append((*tr, result.next_state[b], bool(result.terminated[b]), bool(result.truncated[b])))
                self.open[b] = None
            elif next_movers[b]:
                self.closed[b].append((*tr, result.state[b], False, False))
                self.open[b] = None

    def ready(self, bodies: list[int]) -> bool:
        return all(self.closed[b] for b in bodies)

    def pop(self, bodies: list[int]) -> list[tuple]:
        return [self.closed[b].popleft() for b in bodies]


class AgentSpace:
    """All agents of a session. Each acts once per step on the concatenation of its bodies."""

    def __init__(self, spec: Spec, env_space: EnvSpace, seed: int, session: int = 0) -> None:
        self.envs = env_space.envs
        try:
            self.assignment: Assignment = assign_bodies(spec.body, len(spec.agent), [env.num_bodies for env in self.envs])
        except ValueError as e:
            raise SpecError(f"{spec.name}: {e}") from None
        # per agent: [(env, body indices)] in env order
        self.parts: list[list[tuple[int, list[int]]]] = [
            sorted((e, bodies) for (a, e), bodies in self.assignment.items() if a == agent) for agent in range(len(spec.agent))
        ]
        self.agents: list[Algorithm] = []
        # agents with a centralized critic: (critic_input, critic_body_id); their critic inputs of the states acted on
        self.critics: dict[int, tuple[str, bool]] = {}
        self._critic_now: dict[int, np.ndarray] = {}
        for a, agent_spec in enumerate(spec.agent):
            spaces = _combined_spaces(a, self.parts[a], self.envs)
            critic_dim = critic_input_dim(a, agent_spec.algorithm, self.parts[a], self.envs)
            if critic_dim is not None:
                spaces = replace(spaces, critic_dim=critic_dim)
                self.critics[a] = (agent_spec.algorithm.critic_input, agent_spec.algorithm.critic_body_id)
            # the agent's budget: its share of every env's frames
            max_frame = sum(self.envs[e].clock.max_frame * len(b) // self.envs[e].num_bodies for e, b in self.parts[a])
            try:
                agent = make_agent(agent_spec, spaces, max_frame, seed + 7919 * a)
            except ValueError as e:
                raise SpecError(f"{spec.name}: agent {a} in env(s) {[self.envs[e].spec.name for e, _ in self.parts[a]]}: {e}") from None
            # session j of a trial takes GPU j mod n (lib/device.py); nets move once, before any training
            agent.to(resolve_device(agent_spec.net.gpu, session, where=f"agent[{a}].net.gpu"))
            if spec.meta.compile:
                enable_compile_cache()
                agent.compile()
            self.agents.append(agent)
        self.frames = [0] * len(self.agents)
        self._bind_snapshot_players(spec, seed)
        # turn-based envs (pettingzoo_aec.py): each body's experience is its own turns
        self.turns = {e: TurnBuffer(env.num_bodies) for e, env in enumerate(self.envs) if getattr(env, "turn_based", False)}
        self.movers: dict[int, np.ndarray] = {}
        for a, parts in enumerate(self.parts):
            kinds = {e in self.turns for e, _ in parts}
            if len(kinds) > 1:
                raise SpecError(f"{spec.name}: agent {a} has bodies in turn-based and in simultaneous envs; give them to different agents")

    def _bind_snapshot_players(self, spec: Spec, seed: int) -> None:
        """Self-play: each Snapshot player gets the learner whose frozen copies it plays as."""
        for a, agent in enumerate(self.agents):
            if not hasattr(agent, "bind"):
                continue
            src = agent.algo_spec.of
            if src >= len(self.agents) or src == a or hasattr(self.agents[src], "bind"):
                raise SpecError(f"{spec.name}: agent[{a}].algorithm.of: {src} is not another learning agent "
                                f"(agents 0..{len(self.agents) - 1})")
            try:
                agent.bind(self.agents[src], lambda s, sp, a=a: make_agent(s, sp, agent.max_frame, seed + 7919 * a + 1))
            except ValueError as e:
                raise SpecError(f"{spec.name}: agent {a}: {e}") from None

    def state_dict(self) -> dict[str, list[int]]:
        """Each agent's frame count (its share of its envs' frames)."""
        return {"frames": [int(f) for f in self.frames]}

    def load_state_dict(self, state: dict[str, list[int]]) -> None:
        # checkpoints written before the space saved its counts: the agents' own frames are the same
        self.frames = [int(f) for f in state.get("frames", [agent.frame for agent in self.agents])]

    @property
    def pairs(self) -> list[Pair]:
        return sorted(self.assignment)

    def _gather(self, a: int, per_env: dict[int, np.ndarray], width: Any = None) -> np.ndarray:
        parts = self.parts[a]
        if len(parts) == 1 and len(parts[0][1]) == self.envs[parts[0][0]].num_bodies:
            return take_bodies(per_env[parts[0][0]], None, width)  # one agent owns one whole env: no copy
        return np.concatenate([take_bodies(per_env[e], bodies, width) for e, bodies in parts])

    def _obs_width(self, a: int) -> Any:
        return self.agents[a].spaces.obs_dim

    def _act_width(self, a: int) -> Any:
        sp = self.agents[a].spaces
        return None if sp.is_discrete else sp.action_dim

    def _critic_batch(self, a: int, states: dict[int, np.ndarray], global_states: dict[int, Any]) -> np.ndarray:
        """Agent a's centralized-critic inputs for its bodies, [B, critic_dim], from each env's states."""
        kind, body_id = self.critics[a]
        return np.concatenate([self.envs[e].critic_inputs(kind, states[e], global_states[e], body_id)[bodies]
                               for e, bodies in self.parts[a]])

    def act(self, state_space: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Actions per env, each assembled from the slices its agents chose."""
        self.movers = {e: self.envs[e].active.copy() for e in self.turns}  # who moves on these states
        for a in self.critics:  # the critic inputs that go with these states, stored at the update
            now = {e: self.envs[e].global_state() for e, _ in self.parts[a]}
            self._critic_now[a] = self._critic_batch(a, state_space, now)
        if len(self.agents) == 1 and len(self.envs) == 1:
            return {0: self.agents[0].act(take_bodies(state_space[0], None, self._obs_width(0)))}
        action_space: dict[int, np.ndarray] = {}
        for a, agent in enumerate(self.agents):
            actions = agent.act(self._gather(a, state_space, self._obs_width(a)))
            start = 0
            for e, bodies in self.parts[a]:
                action_space[e] = place_actions(actions[start:start + len(bodies)], action_space.get(e), self.envs[e].num_bodies, bodies)
                start += len(bodies)
        return action_space

    def update(self, state_space: dict[int, np.ndarray], action_space: dict[int, np.ndarray], step_space: dict[int, StepResult]) -> None:
        for e, turns in self.turns.items():
            turns.add_step(self.movers[e], state_space[e], action_space[e], step_space[e], self.envs[e].active)
        for a, agent in enumerate(self.agents):
            if self.parts[a][0][0] in self.turns:
                self._update_turns(a)
                continue
            self.frames[a] += agent.spaces.num_bodies
            obs_w = self._obs_width(a)
            gather = lambda per_env, width=obs_w: self._gather(a, per_env, width)  # noqa: E731
            extra = {}
            if a in self.critics:  # (inputs for s, inputs for s'): s' is the final observation on a done step
                next_critic = self._critic_batch(a, {e: s.next_state for e, s in step_space.items()},
                                                 {e: s.next_global_state for e, s in step_space.items()})
                extra["critic"] = (self._critic_now[a], next_critic)
            agent.update(
                gather(state_space), gather(action_space, self._act_width(a)),
                gather({e: s.reward for e, s in step_space.items()}),
                gather({e: s.next_state for e, s in step_space.items()}),
                gather({e: s.terminated for e, s in step_space.items()}),
                gather({e: s.truncated for e, s in step_space.items()}),
                self.frames[a], **extra,
            )

    def _update_turns(self, a: int) -> None:
        """Once every body of agent a has a closed transition, one update with one of each."""
        parts = self.parts[a]
        if not all(self.turns[e].ready(bodies) for e, bodies in parts):
            return
        rows = [row for e, bodies in parts for row in self.turns[e].pop(bodies)]
        s, act, r, s2, term, trunc = (np.stack(col) for col in zip(*rows))
        width = self._obs_width(a)
        self.frames[a] += len(rows)
        self.agents[a].update(take_bodies(s, None, width), act, r.astype(np.float32), take_bodies(s2, None, width),
                              term, trunc, self.frames[a])
