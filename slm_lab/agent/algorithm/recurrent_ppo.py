"""Recurrent PPO: PPO with a GRU / LSTM policy and value whose hidden state spans the episode.

The loss is PPO's (Schulman et al. 2017); what changes is how the nets see the data, as in
the recurrent policies of Mnih et al. 2016 (A3C-LSTM), Kapturowski et al. 2019 (R2D2, stored
states for sequence training) and SB3-contrib's RecurrentPPO / CleanRL's ppo_atari_lstm.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from slm_lab.agent.algorithm.ppo import PPO
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec

HiddenStates = dict[str, torch.Tensor]
"""The carried state of each recurrent net by its name in `nets` ("net", and "critic" when separate), [B, state_size]."""


class RecurrentPPO(PPO):
    """PPO over sequences: loss = L^CLIP - beta * mean(H[pi]) + c_v * L_V, as in PPO.

    Acting: each net (StatefulRecurrentNet) carries a hidden state per body through the
    rollout; it is zeroed for a body whose episode starts (its last step ended the previous
    one). The memory records, for every step, the episode-start flags and the carried state
    before that step (unmasked), so any step can be a sequence start.

    Training: the rollout is scored by unrolling each body's column from its first stored
    state (old log-probs and values, GAE; V(s'_t) is one step from the state after step t, so
    truncated episodes and the rollout's end bootstrap from the true final observation with
    the right memory). The [T, B] rollout is then cut into sequences of `seq_len` steps (unset:
    whole columns), each starting from the state stored at its first step; minibatches are
    `minibatch_size // seq_len` whole sequences, unrolled with the carried state masked by
    (1 - episode_start) so an episode that begins inside a sequence starts from zeros, and the
    gradient flows back through the sequence (truncated BPTT).

    Greedy play carries a state of its own, reset per body by `reset_greedy_state`.
    Checkpoints add the rollout's carried states and episode-start flags to PPO's state
    (the envs resume mid-episode, so must the memory of it); greedy play always starts afresh.
    """

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.seq_len = spec.algorithm.seq_len or spec.algorithm.training_frequency
        self.hidden: HiddenStates = {}  # the rollout's carried states, made on the first act
        self.episode_start = np.ones(0, dtype=np.float32)
        self.greedy_hidden: HiddenStates = {}
        self.greedy_episode_start = np.ones(0, dtype=np.float32)
        self.step_record: dict[str, np.ndarray] = {}

    # --- unrolling --------------------------------------------------------------------------

    def unroll(self, states: torch.Tensor, episode_starts: torch.Tensor, hidden: HiddenStates) -> tuple[torch.Tensor, torch.Tensor, HiddenStates]:
        """Policy output [L, N, ...], values [L, N] and the states after the last step, from
        `hidden` at the first of L steps of N sequences."""
        if self.shared:
            out, h = self.net(states, hidden["net"], episode_starts)
            return out[..., : self.spaces.policy_dim], out[..., -1], {"net": h}
        pout, h = self.net(states, hidden["net"], episode_starts)
        values, h_critic = self.critic(states, hidden["critic"], episode_starts)
        return pout, values.squeeze(-1), {"net": h, "critic": h_critic}

    def _fresh(self, n: int) -> HiddenStates:
        return {name: net.initial_state(n) for name, net in self.nets.items()}

    # --- acting -----------------------------------------------------------------------------

    @torch.no_grad()
    def act(self, state: np.ndarray) -> np.ndarray:
        n = state.shape[0]
        if self.episode_start.shape[0] != n:  # the first step: every body starts an episode
            self.hidden, self.episode_start = self._fresh(n), np.ones(n, dtype=np.float32)
        self.step_record = {"episode_starts": self.episode_start.copy(),
                            **{f"hidden_{k}": h.cpu().numpy() for k, h in self.hidden.items()}}
        starts = self.as_tensor(self.episode_start)[None]
        pout, _, self.hidden = self.unroll(self.as_tensor(state)[None], starts, self.hidden)
        return self.dist.sample(pout[0]).cpu().numpy()

    def update(self, state, action, reward, next_state, terminated, truncated, frame: int) -> None:
        self.memory.add_extras(**self.step_record)  # at the step this update stores
        super().update(state, action, reward, next_state, terminated, truncated, frame)
        # the env reset these bodies (same-step autoreset): their next step starts an episode
        self.episode_start = np.logical_or(terminated, truncated).astype(np.float32)

    @torch.no_grad()
    def act_greedy(self, state: np.ndarray) -> np.ndarray:
        n = state.shape[0]
        if self.greedy_episode_start.shape[0] != n:
            self.reset_greedy_state(np.ones(n, dtype=bool))
        starts = self.as_tensor(self.greedy_episode_start)[None]
        pout, _, self.greedy_hidden = self.unroll(self.as_tensor(state)[None], starts, self.greedy_hidden)
        self.greedy_episode_start = np.zeros(n, dtype=np.float32)
        return self.dist.greedy(pout[0]).cpu().numpy()

    def reset_greedy_state(self, bodies: np.ndarray | None = None) -> None:
        if bodies is None:  # a fresh evaluation: sized on the next act_greedy
            self.greedy_episode_start = np.ones(0, dtype=np.float32)
            return
        bodies = np.asarray(bodies, dtype=bool)
        if self.greedy_episode_start.shape[0] != bodies.shape[0]:
            self.greedy_hidden, self.greedy_episode_start = self._fresh(len(bodies)), np.ones(len(bodies), dtype=np.float32)
        self.greedy_episode_start[bodies] = 1.0

    # --- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["recurrent"] = {"episode_start": torch.from_numpy(self.episode_start.copy()),
                              **{f"hidden_{k}": h.detach().cpu().clone() for k, h in self.hidden.items()}}
        return state

    def load_state_dict(self, state: dict, weights_only: bool = False) -> None:
        super().load_state_dict(state, weights_only)
        carried = state.get("recurrent")
        if weights_only or not carried:  # a policy to play with: greedy play keeps its own state
            return
        self.episode_start = carried["episode_start"].numpy().copy()
        self.hidden = {k: carried[f"hidden_{k}"].to(self.device) for k in self.nets if f"hidden_{k}" in carried}

    # --- training ---------------------------------------------------------------------------

    def next_state_values(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """V(s'_t) from the state after step t: the state carried into step t + 1 before its mask,
        and after the last step the state carried now."""
        T, B = batch["rewards"].shape
        after = {k: torch.cat([batch[f"hidden_{k}"][1:], self.hidden[k][None]]).flatten(0, 1) for k in self.nets}
        next_states = batch["next_states"].flatten(0, 1)[None]
        _, values, _ = self.unroll(next_states, torch.zeros(1, T * B, device=self.device), after)
        return values.reshape(T, B)

    @torch.no_grad()
    def score_rollout(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Sequences [seq_len, N, ...] (N = T / seq_len * B) of what the epochs reuse, and
        `init_<net>` [N, state_size], each sequence's stored state at its first step."""
        T, B = batch["rewards"].shape
        first = {k: batch[f"hidden_{k}"][0] for k in self.nets}
        pout, values, _ = self.unroll(batch["states"], batch["episode_starts"], first)
        old_log_prob, entropy = self.log_prob_entropy(pout, batch["actions"])
        self.rollout_entropy = entropy.mean()
        adv, targets = self.advantages(batch, values)
        per_step = {
            "states": batch["states"], "actions": batch["actions"], "episode_starts": batch["episode_starts"],
            "old_log_prob": old_log_prob, "old_values": values, "adv": adv, "targets": targets,
        }
        L, chunks = self.seq_len, T // self.seq_len
        # [T, B, ...] -> [chunks, L, B, ...] -> [L, chunks * B, ...]: sequence j = chunk j // B of body j % B
        data = {k: v.reshape(chunks, L, B, *v.shape[2:]).transpose(0, 1).reshape(L, chunks * B, *v.shape[2:])
                for k, v in per_step.items()}
        for k in self.nets:
            data[f"init_{k}"] = batch[f"hidden_{k}"].reshape(chunks, L, B, -1)[:, 0].reshape(chunks * B, -1)
        return data

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled groups of `minibatch_size // seq_len` whole sequences (all of them when that
        covers the rollout)."""
        n = data["adv"].shape[1]
        per_minibatch = self.algo_spec.minibatch_size // self.seq_len
        if per_minibatch >= n:
            yield data
            return
        for idx in torch.randperm(n).split(per_minibatch):
            yield {k: v[idx] if k.startswith("init_") else v[:, idx] for k, v in data.items()}

    def minibatch_policy_and_value(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pout, values, _ = self.unroll(mb["states"], mb["episode_starts"], {k: mb[f"init_{k}"] for k in self.nets})
        return pout, values
