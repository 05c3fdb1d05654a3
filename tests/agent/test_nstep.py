"""n-step returns: the accumulator's transitions across episode ends and truncations in a 2-body
vector stream, the replay memories storing them, and the DQN target reading their discounts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slm_lab.agent import make_agent
from slm_lab.agent.memory.nstep import NStepAccumulator
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec

GAMMA = 0.5
# body 0: rewards 1, 2, 3, 4, terminated at step 3, then a new episode; body 1: truncated at step 1
REWARDS = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]], np.float32)
TERMINATED = np.array([[0, 0], [0, 0], [0, 0], [1, 0], [0, 0]], bool)
TRUNCATED = np.array([[0, 0], [0, 1], [0, 0], [0, 0], [0, 0]], bool)


def step(t: int):
    """Step t of both bodies; observation = 10 t + body, s' = s + 100 (the true final one at an end)."""
    state = (10.0 * t + np.arange(2, dtype=np.float32))[:, None]
    return state, np.array([t % 2, 1 - t % 2]), REWARDS[t], state + 100, TERMINATED[t], TRUNCATED[t]


def stream(add) -> list[dict]:
    out = []
    for t in range(len(REWARDS)):
        batch = add(*step(t))
        out.append(batch)
    return out


def rows(batch: dict | None) -> list[tuple]:
    if batch is None:
        return []
    return [(float(batch["states"][i, 0]), float(batch["rewards"][i]), float(batch["next_states"][i, 0]),
             float(batch["terminated"][i]), float(batch["discounts"][i])) for i in range(len(batch["rewards"]))]


# (s_t, n-step return, s_{t+k}, terminated, gamma^k), by the step that completes them
EXPECTED = [
    [],
    # body 1 truncated at step 1: both its steps end there and bootstrap from the true final obs 111
    [(1.0, 10 + 0.5 * 20, 111.0, 0.0, 0.25), (11.0, 20.0, 111.0, 0.0, 0.5)],
    # body 0's window of 3 is full: 1 + 0.5 * 2 + 0.25 * 3
    [(0.0, 2.75, 120.0, 0.0, 0.125)],
    # body 0 terminated at step 3: its three pending steps, no bootstrap (terminated = 1)
    [(10.0, 2 + 0.5 * 3 + 0.25 * 4, 130.0, 1.0, 0.125), (20.0, 3 + 0.5 * 4, 130.0, 1.0, 0.25), (30.0, 4.0, 130.0, 1.0, 0.5)],
    # body 1's new episode (steps 2, 3, 4) fills its window; body 0's new episode holds one step
    [(21.0, 30 + 0.5 * 40 + 0.25 * 50, 141.0, 0.0, 0.125)],
]


def test_nstep_transitions_across_episode_ends_and_truncations():
    acc = NStepAccumulator(3, GAMMA)
    for t, batch in enumerate(stream(acc.add)):
        # powers of 1/2 and small integers: exact in float32
        assert rows(batch) == EXPECTED[t], f"step {t}"
        assert (batch is None) == (not EXPECTED[t])
    assert acc.pending.tolist() == [1, 2]


def test_one_step_accumulator_is_the_plain_transition():
    acc = NStepAccumulator(1, GAMMA)
    batch = acc.add(*step(0))
    assert batch["rewards"].tolist() == [1.0, 10.0] and batch["discounts"].tolist() == [0.5, 0.5]


SPACES = BodySpaces(obs_dim=1, action_dim=2, is_discrete=True, num_bodies=2)


def agent_with(memory: str, n_step: int = 3):
    spec = AgentSpec.model_validate({
        "algorithm": {"name": "DQN", "gamma": GAMMA, "n_step": n_step, "training_start_step": 10**6},
        "memory": {"name": memory, "batch_size": 4, "max_size": 100},
        "net": {"hid_layers": [8]},
    })
    return make_agent(spec, SPACES, max_frame=1000, seed=0)


@pytest.mark.parametrize("memory", ["Replay", "PrioritizedReplay"])
def test_replay_memories_store_nstep_transitions(memory: str):
    agent = agent_with(memory)
    stream(lambda *a: agent.memory.add(*a))
    stored = {k: v[: len(agent.memory)] for k, v in agent.memory.arrays.items()}
    expected = [row for rows_t in EXPECTED for row in rows_t]
    assert rows(stored) == expected
    assert stored["actions"].tolist() == [1, 0, 0, 1, 0, 1, 1]  # each s_t keeps its own a_t
    if memory == "PrioritizedReplay":  # every n-step transition enters with the max priority
        assert agent.memory.added == len(expected)


def test_dqn_target_bootstraps_with_the_stored_discount():
    agent = agent_with("Replay")
    stream(lambda *a: agent.memory.add(*a))
    seen = {}

    def record(q, target):
        seen["target"] = target
        return (q - target) ** 2

    agent.sample_loss_fn = record
    agent.next_q = lambda s: torch.full(s.shape[:1], 8.0)  # max_a' Q_target(s') = 8 everywhere
    batch = {k: torch.from_numpy(v[: len(agent.memory)]) for k, v in agent.memory.arrays.items()}
    agent.train_step(batch)
    r, d, term = batch["rewards"], batch["discounts"], batch["terminated"]
    torch.testing.assert_close(seen["target"], r + d * (1 - term) * 8.0)
    # e.g. the truncated 2-step transition: 20 + 0.25 * 8; a terminated one: its return alone
    assert seen["target"][0].item() == pytest.approx(22.0) and seen["target"][3].item() == pytest.approx(4.5)


def test_nstep_state_survives_a_checkpoint():
    agent = agent_with("Replay")
    for t in range(3):
        agent.memory.add(*step(t))
    saved = agent.memory.state_dict()
    other = agent_with("Replay")
    other.memory.load_state_dict(saved)
    for t in range(3, 5):
        agent.memory.add(*step(t))
        other.memory.add(*step(t))
    for key, arr in agent.memory.arrays.items():
        np.testing.assert_array_equal(other.memory.arrays[key][: len(other.memory)], arr[: len(agent.memory)])


def test_n_step_needs_a_replay_that_stores_discounts():
    with pytest.raises(ValueError, match="n_step needs memory Replay or PrioritizedReplay"):
        AgentSpec.model_validate({"algorithm": {"name": "DQN", "n_step": 3}, "memory": {"name": "AtariReplay"}})
