"""OffPolicy: the shared loop of algorithms that learn from a replay memory (DQN family, SAC, ...)."""

from __future__ import annotations

import torch

from slm_lab.agent.algorithm.base import Algorithm, TrainStats


class OffPolicy(Algorithm):
    """Learning starts once `training_start_step` frames are played and the memory holds a batch;
    then every `training_frequency` env steps, `training_batch_iter` gradient steps, each on a
    fresh sample. Subclasses write one gradient step in `train_step(batch)` and return its
    statistics; `train()` averages them over the steps (the update-to-data ratio is
    training_batch_iter / (training_frequency * bodies))."""

    def to_train(self) -> bool:
        a = self.algo_spec
        return (
            self.frame >= a.training_start_step
            and len(self.memory) >= self.memory.batch_size
            and self.env_steps % a.training_frequency == 0
        )

    def train(self) -> TrainStats:
        n = self.algo_spec.training_batch_iter
        sums: TrainStats = {}
        for _ in range(n):
            for name, value in self.train_step(self.to_device(self.memory.sample())).items():
                sums[name] = sums.get(name, torch.zeros(())) + value.detach()
            self.opt_step += 1
        return {name: total / n for name, total in sums.items()}

    def train_step(self, batch: dict[str, torch.Tensor]) -> TrainStats:
        """One gradient step on one sampled batch (and target-net upkeep); its named statistics."""
        raise NotImplementedError
