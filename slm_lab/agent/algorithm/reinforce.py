"""REINFORCE (Williams 1992): Monte Carlo policy gradient, optional return baseline and entropy bonus."""

from __future__ import annotations

import torch

from slm_lab.agent.algorithm.base import PolicyGradient, TrainStats
from slm_lab.agent.algorithm.returns import discounted_returns
from slm_lab.agent.net import NETS
from slm_lab.agent.net.builders import gradient_step
from slm_lab.env.protocol import BodySpaces
from slm_lab.spec.schema import AgentSpec


class Reinforce(PolicyGradient):
    """loss = -mean(log pi(a|s) * (G - b)) - beta * mean(H[pi(.|s)]),  b = mean(G) if center_return."""

    def __init__(self, spec: AgentSpec, spaces: BodySpaces, max_frame: int, seed: int) -> None:
        super().__init__(spec, spaces, max_frame, seed)
        self.net = NETS[spec.net.type](spec.net, spaces.obs_dim, [spaces.policy_dim], self.log_std_dim)
        self.nets = {"net": self.net}
        self._add_optimizer("net", list(self.net.parameters()), spec.net.optim_spec)
        self.init_policy_head()

    def policy_net(self) -> torch.nn.Module:
        return self.net

    def policy_out(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)

    def train(self) -> TrainStats:
        batch = self.to_device(self.memory.sample())
        done = (batch["terminated"] + batch["truncated"]).clamp(max=1.0)
        returns = self.as_tensor(discounted_returns(batch["rewards"].cpu().numpy(), done.cpu().numpy(), self.gamma)).flatten()
        if self.algo_spec.center_return:
            returns = returns - returns.mean()
        states = batch["states"].flatten(0, 1)
        actions = batch["actions"].flatten(0, 1)
        log_prob, entropy = self.log_prob_entropy(self.net(states), actions)
        loss = -(log_prob * returns).mean() - self.entropy_coef.value(self.frame) * entropy.mean()
        gradient_step(loss, self.optims["net"], list(self.net.parameters()), self.net_spec.clip_grad_val, self.schedulers["net"])
        self.opt_step += 1
        return {"loss": loss.detach(), "entropy": entropy.detach().mean()}
