"""Memories: ring-buffer replay and the two on-policy memories."""

from __future__ import annotations

import numpy as np

from slm_lab.agent.memory import OnPolicyBatchReplay, OnPolicyReplay, Replay
from slm_lab.spec.schema import OnPolicyBatchReplaySpec, OnPolicyReplaySpec, ReplaySpec


def step(t: int, bodies: int = 2, term=None, trunc=None):
    state = np.full((bodies, 3), t, dtype=np.float32)
    return (state, np.arange(bodies), np.full(bodies, float(t), np.float32), state + 1,
            np.array(term if term is not None else [False] * bodies), np.array(trunc if trunc is not None else [False] * bodies))


def test_replay_ring_buffer_overwrites_the_oldest():
    mem = Replay(ReplaySpec(batch_size=4, max_size=5), np.random.default_rng(0))
    for t in range(3):
        mem.add(*step(t))
    assert len(mem) == 5 and mem.head == 1
    # slot 0 held t=0 and was overwritten by the second body of t=2
    assert mem.arrays["rewards"].tolist() == [2, 0, 1, 1, 2]
    batch = mem.sample()
    assert batch["states"].shape == (4, 3) and batch["next_states"].shape == (4, 3)
    assert set(batch) == {"states", "actions", "rewards", "next_states", "terminated"}


def test_replay_stores_terminated_not_truncated():
    mem = Replay(ReplaySpec(batch_size=2, max_size=10), np.random.default_rng(0))
    mem.add(*step(0, term=[True, False], trunc=[False, True]))
    assert mem.arrays["terminated"][:2].tolist() == [1.0, 0.0]


def test_replay_samples_uniformly():
    mem = Replay(ReplaySpec(batch_size=10_000, max_size=4), np.random.default_rng(0))
    for t in range(2):
        mem.add(*step(t))
    counts = np.bincount(mem.sample()["rewards"].numpy().astype(int), minlength=2)
    assert abs(counts[0] - counts[1]) < 500


def test_batch_replay_hands_out_time_major_rollouts():
    mem = OnPolicyBatchReplay(OnPolicyBatchReplaySpec(), training_frequency=3)
    for t in range(3):
        assert not mem.ready()
        mem.add(*step(t, trunc=[t == 1, False]))
    assert mem.ready()
    batch = mem.sample()
    assert batch["states"].shape == (3, 2, 3)
    assert batch["rewards"][:, 0].tolist() == [0, 1, 2]
    assert batch["truncated"][:, 0].tolist() == [0, 1, 0]
    assert not mem.ready()


def test_episodic_replay_collects_whole_episodes_from_every_body():
    mem = OnPolicyReplay(OnPolicyReplaySpec(), training_frequency=2)
    mem.add(*step(0))
    mem.add(*step(1, term=[True, False]))
    assert not mem.ready()
    mem.add(*step(2, trunc=[False, True]))
    assert mem.ready()
    batch = mem.sample()
    # body 0's episode (t=0,1) then body 1's (t=0,1,2), concatenated along time, B = 1
    assert batch["rewards"][:, 0].tolist() == [0, 1, 0, 1, 2]
    assert batch["terminated"][:, 0].tolist() == [0, 1, 0, 0, 0]
    assert batch["truncated"][:, 0].tolist() == [0, 0, 0, 0, 1]
    assert not mem.ready()
