"""A lean single-file PPO (Schulman et al. 2017) for CartPole-v1: torch + gymnasium only.

The reference the lab's own layers are measured against (bench/throughput.py runs it as a
third contestant for ppo_cartpole): the same SB3-zoo settings as bench/specs/zoo.json
(8 envs, 32 steps, minibatch 256, 20 epochs, gamma 0.98, GAE 0.8, lr 1e-3 -> 0 and clip
0.2 -> 0 linear, separate 64x64 tanh actor and critic, grad norm 0.5) and the env path the
lab takes with `env.vectorization: sync` (SyncVectorEnv with same-step autoreset, bootstrapping
from the final obs on truncation; the lab's default for CartPole is a faster numpy-batched env). It already uses the cheap levers: log_softmax + gather instead of
torch.distributions, fused Adam, one fused grad-norm, inference mode for acting.

    python bench/lean_ppo.py --frames 50000 --seed 0 [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_ENVS, N_STEPS, MINIBATCH, EPOCHS = 8, 32, 256, 20
GAMMA, LAM, LR, CLIP, VF_COEF, MAX_GRAD_NORM = 0.98, 0.8, 1e-3, 0.2, 0.5, 0.5


def mlp(in_dim: int, out_dim: int, out_gain: float) -> nn.Sequential:
    """64x64 tanh MLP, orthogonal init (sqrt(2) hidden gain, small policy-head gain)."""
    net = nn.Sequential(nn.Linear(in_dim, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, out_dim))
    for i, m in enumerate(m for m in net if isinstance(m, nn.Linear)):
        nn.init.orthogonal_(m.weight, out_gain if i == 2 else 2 ** 0.5)
        nn.init.zeros_(m.bias)
    return net


def evaluate(actor: nn.Module, episodes: int, seed: int) -> float:
    """Mean return of `episodes` greedy episodes, one per sub-env."""
    env = gym.make_vec("CartPole-v1", num_envs=episodes, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    obs, _ = env.reset(seed=seed)
    returns, running = np.zeros(episodes), np.ones(episodes, dtype=bool)
    while running.any():
        with torch.inference_mode():
            act = actor(torch.from_numpy(obs.astype(np.float32))).argmax(-1).numpy()
        obs, rew, term, trunc, _ = env.step(act)
        returns += np.where(running, rew, 0.0)
        running &= ~(term | trunc)
    env.close()
    return float(returns.mean())


def update(actor: nn.Module, critic: nn.Module, optim: torch.optim.Optimizer, params: list[nn.Parameter],
           batch: tuple[torch.Tensor, ...], clip: float) -> None:
    """EPOCHS passes of shuffled minibatches over one scored rollout (flat obs, actions, old
    log-probs, advantages, returns): the clipped surrogate plus the value loss, one Adam step each."""
    b_obs, b_act, b_logp, b_adv, b_ret = batch
    for _ in range(EPOCHS):
        for idx in torch.randperm(b_adv.shape[0]).split(MINIBATCH):
            mb_adv = b_adv[idx]
            mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
            logp = F.log_softmax(actor(b_obs[idx]), -1).gather(-1, b_act[idx].unsqueeze(-1)).squeeze(-1)
            ratio = (logp - b_logp[idx]).exp()
            pg_loss = -torch.min(ratio * mb_adv, ratio.clamp(1 - clip, 1 + clip) * mb_adv).mean()
            v_loss = F.mse_loss(critic(b_obs[idx]).squeeze(-1), b_ret[idx])
            optim.zero_grad(set_to_none=True)
            (pg_loss + VF_COEF * v_loss).backward()
            nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM, foreach=True)
            optim.step()


def train(frames: int, seed: int) -> dict[str, float]:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    env = gym.make_vec("CartPole-v1", num_envs=N_ENVS, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP})
    obs_dim, n_act = env.single_observation_space.shape[0], int(env.single_action_space.n)
    actor, critic = mlp(obs_dim, n_act, 0.01), mlp(obs_dim, 1, 1.0)
    params = list(actor.parameters()) + list(critic.parameters())
    optim = torch.optim.Adam(params, lr=LR, eps=1e-5, fused=True)
    buf = {k: torch.zeros((N_STEPS, N_ENVS, *s)) for k, s in
           (("obs", (obs_dim,)), ("next_obs", (obs_dim,)), ("act", ()), ("rew", ()), ("term", ()), ("done", ()))}
    t0 = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    frame = 0
    while frame < frames:
        for t in range(N_STEPS):
            o = torch.from_numpy(obs.astype(np.float32))
            with torch.inference_mode():
                act = torch.multinomial(F.softmax(actor(o), -1), 1).squeeze(-1)
            obs, rew, term, trunc, info = env.step(act.numpy())
            nxt = obs
            done = term | trunc
            if done.any():
                nxt = obs.copy()
                nxt[done] = np.stack(info["final_obs"][done])
            buf["obs"][t], buf["act"][t], buf["rew"][t] = o, act.float(), torch.from_numpy(rew.astype(np.float32))
            buf["next_obs"][t] = torch.from_numpy(nxt.astype(np.float32))
            buf["term"][t], buf["done"][t] = torch.from_numpy(term.astype(np.float32)), torch.from_numpy(done.astype(np.float32))
        frame += N_STEPS * N_ENVS
        frac = max(0.0, 1.0 - frame / frames)
        for g in optim.param_groups:
            g["lr"] = LR * frac
        clip = CLIP * frac
        with torch.no_grad():
            logp_all = F.log_softmax(actor(buf["obs"]), -1)
            old_logp = logp_all.gather(-1, buf["act"].long().unsqueeze(-1)).squeeze(-1)
            v = critic(buf["obs"]).squeeze(-1)
            nv = critic(buf["next_obs"]).squeeze(-1)
            # GAE; terminated cuts the bootstrap, done (either flag) cuts the trace
            delta = buf["rew"] + GAMMA * (1 - buf["term"]) * nv - v
            adv = torch.zeros_like(delta)
            last = torch.zeros(N_ENVS)
            for t in reversed(range(N_STEPS)):
                last = delta[t] + GAMMA * LAM * (1 - buf["done"][t]) * last
                adv[t] = last
            ret = adv + v
        b_obs, b_act, b_logp = buf["obs"].flatten(0, 1), buf["act"].long().flatten(0, 1), old_logp.flatten(0, 1)
        update(actor, critic, optim, params, (b_obs, b_act, b_logp, adv.flatten(0, 1), ret.flatten(0, 1)), clip)
    loop_s = time.perf_counter() - t0
    env.close()
    return {"frames": frame, "loop_s": loop_s, "loop_fps": frame / loop_s, "final_return": evaluate(actor, 10, seed + 1_000_003)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON line (for bench/throughput.py)")
    args = p.parse_args()
    out = train(args.frames, args.seed)
    print(json.dumps(out) if args.json else
          f"lean PPO CartPole-v1: {out['frames']} frames, loop {out['loop_fps']:.0f} frames/s, final return {out['final_return']:.1f}")


if __name__ == "__main__":
    main()
