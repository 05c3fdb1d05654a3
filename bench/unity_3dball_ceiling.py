"""How far can any policy get on the shipped Unity 3DBall build? A ceiling for ppo_3dball.

The build declares 2 discrete actions. This script measures, on the real player and with the
player's own episode limit of 1000 steps (so a return is at most 1000 * 0.1 = 100):

- random: uniform over the 2 declared actions (the baseline of docs/BENCHMARKS.md), and
  over all 4;
- pd-1axis: a hand-written PD controller using only the 2 declared actions;
- pd-2axis: the same controller on both axes, using actions 2 and 3, which the build does
  not declare but (as this script checks and prints) its agent code still obeys.

First it probes the player to find, from the observations themselves, which entries are the
platform rotation, the ball position and the ball velocity, and which way each action
tilts; the controller is built from what it finds, not from assumed indices. Then it picks
the controller's gains on short runs (a small grid) and measures the best gains on longer
ones.

    .venv/bin/python bench/unity_3dball_ceiling.py [--steps 3000] [--max-t N] [--quick]

Needs `slm-lab env install 3dball`. Episodes still running at the end are not counted.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass

import numpy as np

from slm_lab.env.unity import UnityEnv
from slm_lab.spec.schema import EnvSpec

UNITY_MAX_STEP = 1000  # the player's own episode limit (observed)
N_PROBE = 4  # probe steps: one or two is enough to see a rotation move; the ball is still falling


@dataclass
class Layout:
    """What the probe found: observation indices and which action tilts which way."""

    rot: dict[int, int]  # action -> rotation entry it moves
    rot_sign: dict[int, float]  # action -> +1 if it increases that entry, -1 if it decreases it
    ball_pos: dict[int, int]  # rotation entry -> the ball-position entry it drives
    ball_vel: dict[int, int]  # rotation entry -> the ball-velocity entry along that axis
    accel_sign: dict[int, float]  # rotation entry -> sign of d(ball velocity)/d(rotation)


def run(env: UnityEnv, policy, steps: int, rng: np.random.Generator,
        entries: list[int] = ()) -> tuple[list[float], int, float]:
    """Returns of the episodes that ended (Unity's done or the max_t cut) within `steps`
    steps, the number of drops (Unity's dones) among them, and the mean |obs[i]| over the
    `entries` (the ball's distance from the platform centre when given its positions)."""
    state = env.reset()
    env.drain_finished()
    drops, off = 0, 0.0
    for _ in range(steps):
        res = env.step(policy(state, rng))
        state = res.state
        drops += int(res.terminated.sum())
        off += float(np.abs(state[:, list(entries)]).sum(1).mean()) if entries else 0.0
    return [ret for _, ret, _ in env.drain_finished()], drops, off / steps


def probe(env: UnityEnv) -> Layout:
    """Find which observation entries each action moves, then which ball entries they drive.

    Step 1: hold each action for N_PROBE steps from a reset; the entry that changes most is
    the rotation it drives (the ball is still falling, so nothing else reacts to it yet).
    Step 2: hold a strong tilt until the ball has landed and rolls; the horizontal velocity
    entry that grows most is the one that tilt drives, and the position entry that moves
    with it is the ball position along that axis.
    """
    n_actions = 4  # the 2 declared plus the 2 this build's agent code may also obey
    changes = []
    for a in range(n_actions):
        s0 = env.reset()
        s = s0
        for _ in range(N_PROBE):
            s = env.step(np.full(env.num_bodies, a)).state
        changes.append((s - s0).mean(0))
    changes = np.array(changes)  # [action, obs]
    # the fall changes the ball's height and vertical speed whatever the action: only what
    # differs between actions is the action's doing
    common = np.median(changes, 0)
    falling = [int(i) for i in np.flatnonzero(np.abs(common) > 0.1)]
    rot: dict[int, int] = {}
    rot_sign: dict[int, float] = {}
    for a in range(n_actions):
        own = changes[a] - common
        i = int(np.argmax(np.abs(own)))
        if abs(own[i]) < 1e-3:
            print(f"  action {a}: moves nothing")
            continue
        rot[a], rot_sign[a] = i, float(np.sign(own[i]))
        print(f"  action {a}: moves obs[{i}] by {own[i]:+.3f} in {N_PROBE} steps (a platform rotation)")
    print(f"  obs{falling} change the same way under every action while the ball falls (height, vertical velocity)")
    rot_entries = sorted(set(rot.values()))
    ball_pos: dict[int, int] = {}
    ball_vel: dict[int, int] = {}
    accel_sign: dict[int, float] = {}
    for r in rot_entries:
        up = next(a for a in rot if rot[a] == r and rot_sign[a] > 0)
        s0 = env.reset()
        hist = [s0]
        for _ in range(12):  # ~7 steps for the ball to land, then a few of rolling
            res = env.step(np.full(env.num_bodies, up))
            alive = ~res.terminated
            hist.append(np.where(alive[:, None], res.state, np.nan))
        h = np.array(hist)  # [T, B, obs]
        move = np.nanmean(h[-1] - h[-5], axis=0)  # last 4 steps: rolling, not falling
        candidates = [i for i in range(h.shape[2]) if i not in rot_entries and i not in falling]
        # velocity: the entry that changes monotonically while the position keeps moving;
        # pick the pair (p, v) where p's 4-step change best matches v's mean times steps
        best = None
        for p, v in itertools.permutations(candidates, 2):
            dp = move[p]
            vmean = np.nanmean(h[-4:, :, v])
            if abs(vmean) < 0.3 or abs(dp) < 0.1 or np.sign(dp) != np.sign(vmean):
                continue
            score = abs(dp) * abs(vmean)
            if best is None or score > best[0]:
                best = (score, p, v, float(np.sign(vmean)))
        if best is None:
            raise SystemExit(f"probe: could not tell which ball entries obs[{r}] drives")
        _, p, v, sign = best
        ball_pos[r], ball_vel[r], accel_sign[r] = p, v, sign
        print(f"  raising obs[{r}] rolls the ball along obs[{p}] (position) / obs[{v}] (velocity), "
              f"{'+' if sign > 0 else '-'} direction")
    return Layout(rot, rot_sign, ball_pos, ball_vel, accel_sign)


def pd_policy(layout: Layout, kp: float, kd: float, entries: list[int]):
    """Bang-bang tracking of a PD target tilt on each rotation entry in `entries`.

    The target tilt is the one that would accelerate the ball back to the centre:
    tilt* = -accel_sign * (kp * position + kd * velocity). There is no "hold" action, so
    each step the chosen entry is moved one notch towards its target. With two axes and one
    action per step, the axis further from its target gets the step.
    """
    up = {r: next(a for a in layout.rot if layout.rot[a] == r and layout.rot_sign[a] > 0) for r in entries}
    down = {r: next(a for a in layout.rot if layout.rot[a] == r and layout.rot_sign[a] < 0) for r in entries}

    def act(state: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        errors = []
        for r in entries:
            target = -layout.accel_sign[r] * (kp * state[:, layout.ball_pos[r]] + kd * state[:, layout.ball_vel[r]])
            errors.append(target - state[:, r])
        err = np.stack(errors, 1)  # [B, axes]
        axis = np.argmax(np.abs(err), 1)
        e = err[np.arange(len(axis)), axis]
        ups = np.array([up[r] for r in entries])[axis]
        downs = np.array([down[r] for r in entries])[axis]
        return np.where(e > 0, ups, downs)

    return act


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000, help="env steps (x12 bodies) per final measurement")
    p.add_argument("--search-steps", type=int, default=600, help="env steps per gain-grid point")
    p.add_argument("--max-t", type=int, default=None,
                   help="the lab's soft episode limit (env.max_t); default none: the player's own 1000-step limit")
    p.add_argument("--quick", action="store_true", help="a 2x2 gain grid instead of 4x4")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    t0 = time.time()
    # the player ends an episode itself after 1000 steps (a done with the +0.1 reward, seen
    # in test runs of this script): a lab max_t of 1000 as well would cut the episode one
    # step before Unity does and count a spurious 1-step episode after it
    cap = min(args.max_t or UNITY_MAX_STEP, UNITY_MAX_STEP)
    env = UnityEnv(EnvSpec(name="unity:3dball", max_t=args.max_t))
    try:
        print(f"3DBall: {env.num_bodies} bodies, obs size {env.brain.state_size}, "
              f"{env.brain.action_size} declared discrete actions; return cap {0.1 * cap:g}")
        print("probe:")
        layout = probe(env)
        declared = [r for a, r in layout.rot.items() if a < env.brain.action_size]
        all_axes = sorted(set(layout.rot.values()))
        other = [i for i in range(env.brain.state_size)
                 if i not in all_axes and i not in layout.ball_pos.values() and i not in layout.ball_vel.values()]
        print(f"  left over: obs{other} (ball height and vertical velocity, by elimination)")
        print(f"  the declared actions drive obs{sorted(set(declared))}; all 4 drive obs{all_axes}")

        kps = [0.05, 0.15] if args.quick else [0.03, 0.08, 0.15, 0.3]
        kds = [0.02, 0.08] if args.quick else [0.0, 0.03, 0.08, 0.15]
        results: dict[str, tuple[float, float, int]] = {}
        for n in (env.brain.action_size, 4):
            rets, _, _ = run(env, lambda s, g, n=n: g.integers(0, n, len(s)), args.steps, rng)
            results[f"random ({n} actions)"] = (float(np.mean(rets)), float(np.std(rets)), len(rets))
        for label, entries in (("pd-1axis (2 declared actions)", sorted(set(declared))), ("pd-2axis (4 actions)", all_axes)):
            if len(entries) < (2 if "2axis" in label else 1):
                print(f"{label}: not possible on this build")
                continue
            grid = []
            for kp, kd in itertools.product(kps, kds):
                # ranked by drops (a short run cannot finish the long episodes of good gains),
                # ties by how far from the centre the ball wanders
                pos = [layout.ball_pos[r] for r in entries]
                _, drops, off = run(env, pd_policy(layout, kp, kd, entries), args.search_steps, rng, pos)
                grid.append((drops, off, kp, kd))
            grid.sort()
            print(f"{label}: gain grid (drops in {args.search_steps} steps x {env.num_bodies} bodies, "
                  "mean |ball position|; best 3): "
                  + ", ".join(f"kp={kp:g} kd={kd:g}: {d}, {o:.2f}" for d, o, kp, kd in grid[:3]))
            _, _, kp, kd = grid[0]
            rets, _, _ = run(env, pd_policy(layout, kp, kd, entries), args.steps, rng)
            results[f"{label}, kp={kp:g} kd={kd:g}"] = (float(np.mean(rets)) if rets else float("nan"),
                                                        float(np.std(rets)) if rets else float("nan"), len(rets))
    finally:
        env.close()
    print(f"\nmean episode return on {args.steps} steps x 12 bodies (max_t {args.max_t}, cap {0.1 * cap:g}):")
    for label, (mean, std, n) in results.items():
        print(f"  {label:45s} {mean:7.2f} +- {std:5.2f}  ({n} episodes)")
    print(f"wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
