"""Unity Tennis' court-relative view: an observation transform for the `unity:tennis` bodies."""

from __future__ import annotations

import numpy as np

# Tennis observations (8 per player, measured on the shipped player): own x, own y, own vx,
# own vy, ball x, ball y, ball vx, ball vy. The player already mirrors every x quantity (and
# the x action) for the player on the +x side of its net, so both players of a court see
# their own half at negative x and action 1 moves either towards the net. But the x
# positions are world coordinates: the 16 courts sit at different x (nets at 0, +-44.4,
# +-45.6, +-90 in observation space), so the same situation looks different on every court.
# court_relative subtracts each body's net position from the two x positions; velocities
# need nothing, and nothing needs mirroring.
TENNIS_X = (0, 4)  # the observation entries that are x positions (player, ball)
# Where the player puts things (net-relative, own frame), seen on every run: at the
# academy reset the ball is exactly SERVE_X from the net, on one side or the other, and the
# player is on its own half; each episode then starts with the player at -EPISODE_START_X.
TENNIS_SERVE_X = 7.0
TENNIS_EPISODE_START_X = 7.0
TENNIS_HALF = (-12.0, 0.5)  # a player's x at the academy reset lies in here (net-relative)


def tennis_net_offsets(reset_states: np.ndarray) -> np.ndarray:
    """Each body's net position, in its own observation frame, from an academy-reset state.

    The ball is SERVE_X from the net, so the net is at ball x + SERVE_X or ball x - SERVE_X;
    the two candidates are 14 apart and the player's half is narrower, so exactly one of them
    has the player on its own half. Raises ValueError when not exactly one fits (a different
    build, or a state that is not from an academy reset).
    """
    ball, player = reset_states[:, TENNIS_X[1]], reset_states[:, TENNIS_X[0]]
    lo, hi = TENNIS_HALF
    offsets = np.empty(len(reset_states), dtype=np.float32)
    for b in range(len(reset_states)):
        fits = [k for k in (ball[b] + TENNIS_SERVE_X, ball[b] - TENNIS_SERVE_X) if lo <= player[b] - k <= hi]
        if len(fits) != 1:
            raise ValueError(f"body {b}: cannot place its net from the reset state (player x {player[b]:g}, ball x {ball[b]:g})")
        offsets[b] = fits[0]
    return offsets


def court_relative(states: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[B, 8] tennis states with the x positions made relative to each body's own net."""
    out = states.copy()
    out[:, list(TENNIS_X)] -= offsets[:, None]
    return out


class CourtRelative:
    """Makes every body's x positions relative to its own net.

    The net offsets are found once, from the first academy-reset state (`fit`); after that,
    each call maps raw [B, 8] states to court-relative ones. `check_episode_starts` checks the
    offsets for free on real episode starts and warns once if they no longer fit.
    """

    def __init__(self) -> None:
        self.offsets: np.ndarray | None = None
        self.warned = False

    def fit(self, reset_states: np.ndarray) -> None:
        self.offsets = tennis_net_offsets(reset_states)

    def __call__(self, states: np.ndarray) -> np.ndarray:
        return court_relative(states, self.offsets)

    def check_episode_starts(self, starts: np.ndarray) -> float | None:
        """Every tennis episode starts with the player EPISODE_START_X behind its net. Returns the
        largest miss the first time one exceeds 0.01 (the caller warns), else None."""
        if self.warned:
            return None
        off = np.abs(starts[:, TENNIS_X[0]] + TENNIS_EPISODE_START_X)
        if (off > 0.01).any():
            self.warned = True
            return float(off.max())
        return None


MIRRORED_BALL = np.array([-1.0, 1.0, -1.0, 1.0], dtype=np.float32)  # ball x, y, vx, vy seen from the other side


def tennis_opponents(ball_tracks: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """Each body's opponent, the other player of its court, from [B, T, 4] ball observations
    (x, y, vx, vy, court-relative) over T steps of play: the two players of a court see one
    ball, mirrored in x. Self-play needs it to put the two players of a court on different
    agents. Raises ValueError unless every body has exactly one match and matches are mutual."""
    tracks = np.asarray(ball_tracks, dtype=np.float32)
    gap = np.abs(tracks[:, None] - tracks[None, :] * MIRRORED_BALL).max(axis=(2, 3))
    np.fill_diagonal(gap, np.inf)
    opponents = gap.argmin(axis=1)
    for b, o in enumerate(opponents):
        if (gap[b] <= tol).sum() != 1 or opponents[o] != b:
            raise ValueError(f"body {b}: no single other body sees its ball mirrored (play longer, or not tennis)")
    return opponents


def play_for_opponents(env, steps: int = 200, seed: int = 0) -> np.ndarray:
    """Each body's opponent on a tennis env (`unity:tennis`, court-relative): `steps` of
    random play from a reset, then `tennis_opponents` on every body's view of its ball."""
    rng = np.random.default_rng(seed)
    tracks = [env.reset()[:, 4:8]]
    for _ in range(steps):
        tracks.append(env.step(rng.integers(0, env.spaces.action_dim, env.num_bodies)).state[:, 4:8])
    return tennis_opponents(np.stack(tracks, axis=1))
