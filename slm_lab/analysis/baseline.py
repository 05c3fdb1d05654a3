"""The random-policy baseline R_rand: the return a uniformly random policy earns in an env.

Strength (see metrics.py) is measured against it, so "0" means "no better than pressing
buttons at random". It is measured once per (env name, kwargs, max_t) and cached:

1. the values shipped with the lab (`random_baselines.json` beside this file),
2. the user cache: `$SLM_LAB_CACHE_DIR`, else `$XDG_CACHE_HOME/slm_lab`, else `~/.cache/slm_lab`,
3. otherwise measured now (`episodes` episodes, fixed seeds) and written to the user cache.

Measurement is deterministic: env seeded with `seed` on the first reset (later resets
continue its generator), the action space seeded with `seed`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from slm_lab.lib import io
from slm_lab.lib.config import CACHE_DIR_ENV, cache_dir  # noqa: F401  (one cache dir for the whole lab)
from slm_lab.lib.logger import get_logger
from slm_lab.spec.errors import SpecError

logger = get_logger(__name__)

DEFAULT_EPISODES = 100
SHIPPED_FILE = Path(__file__).with_name("random_baselines.json")
CACHE_FILE_NAME = "random_baselines.json"
# a safety net for envs without a time limit: a random policy could otherwise run forever
MAX_EPISODE_STEPS = 100_000

_memo: dict[str, float] = {}


def cache_key(name: str, kwargs: dict[str, Any] | None = None, max_t: int | None = None,
              episodes: int = DEFAULT_EPISODES, bodies: list[int] | None = None) -> str:
    """A readable key: `CartPole-v1|kwargs={}|max_t=None`, plus `|episodes=N` when not the default
    and `|bodies=0,1,2` for one agent's bodies of a multi-agent env."""
    key = f"{name}|kwargs={json.dumps(kwargs or {}, sort_keys=True)}|max_t={max_t}"
    if episodes != DEFAULT_EPISODES:
        key += f"|episodes={episodes}"
    if bodies is not None:
        key += f"|bodies={','.join(str(b) for b in sorted(bodies))}"
    return key


def _env_fields(env_spec: Any) -> tuple[str, dict[str, Any], int | None]:
    """Accept an `EnvSpec`, a dict with the same keys, or a bare env name."""
    if isinstance(env_spec, str):
        return env_spec, {}, None
    if isinstance(env_spec, dict):
        return env_spec["name"], dict(env_spec.get("kwargs") or {}), env_spec.get("max_t")
    return env_spec.name, dict(getattr(env_spec, "kwargs", None) or {}), getattr(env_spec, "max_t", None)


def _read_table(path: Path) -> dict[str, Any]:
    try:
        data = io.read_json(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        logger.warning("ignoring unreadable baseline cache %s: %s", path, e)
        return {}
    return data if isinstance(data, dict) else {}


def _lookup(table: dict[str, Any], key: str) -> float | None:
    entry = table.get(key)
    if isinstance(entry, dict):
        entry = entry.get("return")
    if isinstance(entry, (int, float)) and math.isfinite(entry):
        return float(entry)
    return None


def measure_random_baseline(name: str, kwargs: dict[str, Any] | None = None, max_t: int | None = None,
                            episodes: int = DEFAULT_EPISODES, seed: int = 0, bodies: list[int] | None = None) -> dict[str, Any]:
    """Run a uniformly random policy for `episodes` episodes; mean, std and episode count.

    `bodies` (multi-agent envs): every body acts at random (a random joint policy), and
    only the episodes of these bodies count, so each agent is measured against its own role."""
    import gymnasium as gym
    import numpy as np

    if name.split(":", 1)[0] in ("unity", "pettingzoo"):
        return _measure_with_adapter(name, kwargs, max_t, episodes, seed, bodies)

    make_kwargs = dict(kwargs or {})
    if max_t is not None:
        make_kwargs["max_episode_steps"] = max_t
    from slm_lab.env.gymnasium import env_id

    env = gym.make(env_id(name), **make_kwargs)
    env.action_space.seed(seed)
    returns = []
    try:
        for ep in range(episodes):
            obs, info = env.reset(seed=seed if ep == 0 else None)
            total, steps, done = 0.0, 0, False
            while not done:
                # an env with action masks (env/action_mask.py): a random legal action
                mask = obs.get("action_mask") if isinstance(obs, dict) else info.get("action_mask")
                action = env.action_space.sample(mask=None if mask is None else np.asarray(mask, np.int8))
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                steps += 1
                done = terminated or truncated
                if steps >= MAX_EPISODE_STEPS:
                    logger.warning("%s: random episode cut at %d steps (set env max_t)", name, steps)
                    break
            returns.append(total)
    finally:
        env.close()
    arr = np.asarray(returns, dtype=np.float64)
    return {"return": float(arr.mean()), "std": float(arr.std()), "episodes": episodes, "seed": seed,
            "gymnasium": gym.__version__}


def _measure_with_adapter(name: str, kwargs: dict[str, Any] | None, max_t: int | None, episodes: int,
                          seed: int, bodies: list[int] | None = None) -> dict[str, Any]:
    """Unity and PettingZoo envs have several bodies that end episodes on their own: step all
    bodies with uniformly random actions until `episodes` episodes of `bodies` (all when
    None) have finished."""
    import numpy as np

    from slm_lab.env import make_env
    from slm_lab.spec.schema import EnvSpec

    env = make_env(EnvSpec(name=name, kwargs=kwargs or {}, max_t=max_t), seed)
    rng = np.random.default_rng(seed)
    counted = set(range(env.num_bodies) if bodies is None else bodies)
    returns: list[float] = []
    try:
        env.reset()
        steps = 0
        while len(returns) < episodes and steps < MAX_EPISODE_STEPS * 10:
            env.step(random_actions(env, rng))
            returns += [ret for b, ret, _ in env.drain_finished() if b in counted]
            steps += 1
    finally:
        env.close()
    arr = np.asarray(returns[:episodes] or [np.nan], dtype=np.float64)
    return {"return": float(arr.mean()), "std": float(arr.std()), "episodes": int(arr.size), "seed": seed}


def random_actions(env: Any, rng: Any) -> Any:
    """A uniformly random action for every body: the env's own sampler where its bodies differ
    (or have action masks), else one draw from the shared space."""
    import numpy as np

    if hasattr(env, "random_actions"):
        return env.random_actions(rng)
    sp = env.spaces
    if sp.is_discrete:
        return rng.integers(0, sp.action_dim, sp.num_bodies)
    return rng.uniform(sp.action_low, sp.action_high, (sp.num_bodies, sp.action_dim)).astype(np.float32)


def random_baseline(env_spec: Any, episodes: int = DEFAULT_EPISODES, bodies: list[int] | None = None) -> float:
    """Mean return of a uniformly random policy in `env_spec` (an EnvSpec), cached.

    `bodies`: one agent's bodies of a multi-agent env, measured under a random joint policy.
    Looks in the shipped table, then the user cache; measures and caches on a miss.
    """
    name, kwargs, max_t = _env_fields(env_spec)
    if name.split(":", 1)[0] not in ("unity", "pettingzoo"):
        bodies = None  # a Gymnasium env's bodies are copies of one env: all alike
    key = cache_key(name, kwargs, max_t, episodes, bodies)
    if key in _memo:
        return _memo[key]
    value = _lookup(_read_table(SHIPPED_FILE), key)
    cache_file = cache_dir() / CACHE_FILE_NAME
    if value is None:
        value = _lookup(_read_table(cache_file), key)
    if value is None:
        logger.info("measuring the random-policy baseline of %s over %d episodes", name, episodes)
        try:
            entry = measure_random_baseline(name, kwargs, max_t, episodes, bodies=bodies)
        except Exception as e:  # the env itself failed: one line naming it, not the env's traceback
            detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise SpecError(f"env '{name}' failed while its random-policy baseline was measured: "
                            f"{type(e).__name__}: {detail} (fix the env, then run again)") from None
        if not math.isfinite(entry["return"]):  # never cached: a NaN baseline would poison every strength
            raise SpecError(f"env '{name}': a random policy's mean return is {entry['return']} "
                            "(NaN or infinite rewards, or no episode ended); check the env's rewards and max_t")
        # re-read just before writing: another session may have added entries meanwhile
        table = _read_table(cache_file)
        table[key] = entry
        try:
            io.write_json(cache_file, table)
        except OSError as e:
            logger.warning("could not cache the random baseline in %s: %s", cache_file, e)
        value = entry["return"]
    _memo[key] = value
    return value


def clear_memo() -> None:
    """Forget in-process lookups (tests; or after editing a cache file by hand)."""
    _memo.clear()
