"""ale-py's native vector env path gives what the Gymnasium wrapper path gives, in shape and kind."""

from __future__ import annotations

import numpy as np
import pytest

from slm_lab.env.ale_vector import rom_name
from slm_lab.env.gymnasium import GymEnv
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import EnvSpec


def play(env: GymEnv, steps: int) -> tuple[np.ndarray, list]:
    state = env.reset()
    rng = np.random.default_rng(0)
    results = []
    for _ in range(steps):
        results.append(env.step(rng.integers(0, env.spaces.action_dim, env.num_bodies)))
    return state, results


def test_the_native_path_matches_the_wrapper_path_in_shapes_and_dtypes():
    wrapped = GymEnv(EnvSpec(name="ALE/Pong-v5", num_envs=2, max_t=60), seed=0)
    native = GymEnv(EnvSpec(name="ALE/Pong-v5", num_envs=2, max_t=60, vectorization="ale"), seed=0)
    try:
        assert native.spaces == wrapped.spaces
        (s_w, r_w), (s_n, r_n) = play(wrapped, 70), play(native, 70)
        assert s_n.shape == s_w.shape == (2, 4, 84, 84) and s_n.dtype == s_w.dtype == np.uint8
        for a, b in zip(r_w, r_n):
            for field in ("state", "next_state", "reward", "terminated", "truncated"):
                x, y = getattr(a, field), getattr(b, field)
                assert x.shape == y.shape and x.dtype == y.dtype, field
        # max_t = 60 emulator frames, no-op starts included: both paths truncate within 60 / 4 agent steps
        for results in (r_w, r_n):
            first = [bool(r.truncated.any()) for r in results].index(True)
            assert 6 <= first <= 15, first
        assert all(((r.reward >= -1) & (r.reward <= 1)).all() for r in r_n)  # clipped for training, as Atari is
        assert len(native.drain_finished()) >= 2
    finally:
        wrapped.close()
        native.close()


def test_rom_names_and_refusals():
    assert rom_name("ALE/Pong-v5") == "pong" and rom_name("ALE/SpaceInvaders-v5") == "space_invaders"
    with pytest.raises(SpecError):
        rom_name("CartPole-v1")
    with pytest.raises(ValueError, match="vectorization 'ale'"):
        EnvSpec(name="CartPole-v1", vectorization="ale")
