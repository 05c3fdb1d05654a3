"""Return and advantage estimators against hand-computed values (T=3, B=1, gamma=0.5)."""

from __future__ import annotations

import numpy as np
import pytest

from slm_lab.agent.algorithm.returns import discounted_returns, gae, nstep_returns


def col(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float32)[:, None]


R, NV, V = col(1, 1, 1), col(2, 4, 8), col(1, 2, 4)
ZERO = col(0, 0, 0)


def test_discounted_returns_reset_at_episode_ends():
    np.testing.assert_allclose(discounted_returns(col(1, 2, 3), col(0, 0, 1), 0.5), col(2.75, 3.5, 3))
    np.testing.assert_allclose(discounted_returns(col(1, 2, 3), col(1, 0, 0), 0.5), col(1, 3.5, 3))


@pytest.mark.parametrize("n,term,done,expected", [
    (2, ZERO, ZERO, col(2.5, 3.5, 5)),          # R0 = 1 + .5 + .25 V(s'_1); R2 bootstraps at the rollout end
    (3, ZERO, ZERO, col(2.75, 3.5, 5)),         # full rollout: R0 = 1 + .5 + .25 + .125 V(s'_2)
    (2, col(1, 0, 0), col(1, 0, 0), col(1, 3.5, 5)),    # terminated: no bootstrap
    (2, ZERO, col(1, 0, 0), col(2, 3.5, 5)),    # truncated: bootstrap from the final obs V(s'_0) = 2
    (1, ZERO, ZERO, col(2, 3, 5)),              # one-step TD targets
])
def test_nstep_returns(n, term, done, expected):
    np.testing.assert_allclose(nstep_returns(R, NV, term, done, 0.5, n), expected)


@pytest.mark.parametrize("term,done,expected", [
    (ZERO, ZERO, col(1.3125, 1.25, 1)),
    (col(0, 1, 0), col(0, 1, 0), col(0.75, -1, 1)),   # terminated at t=1: delta_1 = 1 - V(s_1)
    (ZERO, col(0, 1, 0), col(1.25, 1, 1)),            # truncated at t=1: bootstrap, but the recursion stops
])
def test_gae(term, done, expected):
    np.testing.assert_allclose(gae(R, V, NV, term, done, 0.5, 0.5), expected)


def test_gae_with_lambda_one_equals_nstep_advantage_over_the_rollout():
    rng = np.random.default_rng(0)
    r, v = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=(6, 3)).astype(np.float32)
    nv = np.concatenate([v[1:], rng.normal(size=(1, 3)).astype(np.float32)])
    z = np.zeros_like(r)
    np.testing.assert_allclose(gae(r, v, nv, z, z, 0.9, 1.0), nstep_returns(r, nv, z, z, 0.9, 6) - v, rtol=1e-5, atol=1e-5)
