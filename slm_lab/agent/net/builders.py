"""Build optimizers, lr schedulers, losses and weight init from spec names (explicit registries)."""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from slm_lab.spec.schema import LossSpec, LRSchedulerSpec, OptimSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
}
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "RMSprop": torch.optim.RMSprop, "SGD": torch.optim.SGD,
}
LOSSES: dict[str, type[nn.Module]] = {"MSELoss": nn.MSELoss, "SmoothL1Loss": nn.SmoothL1Loss, "HuberLoss": nn.HuberLoss}


def fc_layers(in_dim: int, hid_layers: Iterable[int], activation: str) -> tuple[nn.Sequential, int]:
    """Linear + activation for each hidden size; the stack and the size it ends with."""
    layers: list[nn.Module] = []
    for hid in hid_layers:
        layers += [nn.Linear(in_dim, hid), ACTIVATIONS[activation]()]
        in_dim = hid
    return nn.Sequential(*layers), in_dim


def conv_layers(in_shape: tuple[int, int, int], conv_hid_layers: Iterable[Iterable[int]], activation: str) -> tuple[nn.Sequential, int]:
    """Conv2d + activation for each (out_channels, kernel, stride), flattened; the stack and the
    size it ends with on a [C, H, W] input. Raises ValueError when the layers shrink the image
    to nothing."""
    convs: list[nn.Module] = []
    channels = in_shape[0]
    for out_channels, kernel, stride in conv_hid_layers:
        convs += [nn.Conv2d(channels, out_channels, kernel, stride), ACTIVATIONS[activation]()]
        channels = out_channels
    stack = nn.Sequential(*convs, nn.Flatten())
    with torch.no_grad():
        try:
            return stack, stack(torch.zeros(1, *in_shape)).shape[-1]
        except RuntimeError:
            raise ValueError(f"conv layers shrink {list(in_shape)} to nothing") from None


def init_conv_orthogonal(module: nn.Module) -> None:
    """Orthogonal init (ReLU gain) of every Conv2d in `module`, zero biases (init_layers covers
    Linear layers only)."""
    gain = nn.init.calculate_gain("relu")
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


def init_layers(module: nn.Module, init_fn: str, activation: str) -> None:
    """Initialize Linear weights; biases start at zero."""
    if init_fn == "default":
        return
    gain = nn.init.calculate_gain(activation if activation in ("relu", "tanh", "leaky_relu", "selu", "sigmoid") else "relu")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if init_fn == "orthogonal":
                nn.init.orthogonal_(m.weight, gain)
            elif init_fn == "xavier_uniform":
                nn.init.xavier_uniform_(m.weight, gain)
            elif init_fn == "kaiming_uniform":
                nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def init_policy_head(net: nn.Module, action_dim: int, gain: float) -> None:
    """Orthogonal init with `gain` for the first `action_dim` outputs of `net.head` (the policy's
    logits or means; a shared net's value output keeps its init). A small gain (0.01) makes the
    initial policy near uniform, which "What Matters in On-Policy RL" (Andrychowicz et al. 2021)
    found to help PPO across tasks."""
    head = net.head
    if not isinstance(head, nn.Linear):
        raise ValueError(f"net.policy_init_gain needs a linear output head, not {type(head).__name__}")
    with torch.no_grad():
        weight = torch.empty(action_dim, head.in_features)
        nn.init.orthogonal_(weight, gain)
        head.weight[:action_dim] = weight
        head.bias[:action_dim] = 0.0


def build_optimizer(spec: OptimSpec, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    kwargs: dict[str, object] = {"lr": spec.lr}
    if spec.eps is not None:
        kwargs["eps"] = spec.eps
    if spec.weight_decay:
        kwargs["weight_decay"] = spec.weight_decay
    if spec.momentum is not None and spec.name in ("SGD", "RMSprop"):
        kwargs["momentum"] = spec.momentum
    if spec.alpha is not None and spec.name == "RMSprop":
        kwargs["alpha"] = spec.alpha
    if spec.betas is not None and spec.name in ("Adam", "AdamW"):
        kwargs["betas"] = tuple(spec.betas)
    if spec.name in ("Adam", "AdamW"):
        kwargs["fused"] = True  # one kernel for the whole update: fewer ops per gradient step
    return OPTIMIZERS[spec.name](list(params), **kwargs)


def build_lr_scheduler(
    spec: LRSchedulerSpec, optim: torch.optim.Optimizer, frame_fraction: Callable[[], float]
) -> torch.optim.lr_scheduler.LRScheduler:
    """Schedulers are stepped once per training step; `frame_fraction()` is frame / max_frame."""
    if spec.name == "linear":
        end = spec.end_factor
        return torch.optim.lr_scheduler.LambdaLR(optim, lambda _: max(end, 1.0 - (1.0 - end) * frame_fraction()))
    if spec.name == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optim, gamma=spec.gamma)
    if spec.name == "step":
        return torch.optim.lr_scheduler.StepLR(optim, step_size=spec.step_size, gamma=spec.gamma)
    return torch.optim.lr_scheduler.LambdaLR(optim, lambda _: 1.0)


def build_loss(spec: LossSpec) -> nn.Module:
    return LOSSES[spec.name]()


def clip_grad_norms(param_lists: list[list[nn.Parameter]], max_norm: float) -> None:
    """Scale each list's gradients so that its total L2 norm is at most `max_norm` (the rule of
    `nn.utils.clip_grad_norm_`, each list on its own) from one fused norm kernel over all of them:
    the clip is per-step overhead, so one call for the actor and critic instead of two."""
    lists = [[p.grad for p in params if p.grad is not None] for params in param_lists]
    flat = [g for grads in lists for g in grads]
    if not flat:
        return
    norms = torch._foreach_norm(flat)
    start = 0
    for grads in lists:
        if not grads:
            continue
        total = torch.linalg.vector_norm(torch.stack(norms[start:start + len(grads)]))
        start += len(grads)
        torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp(max=1.0))


NetStep = tuple[torch.optim.Optimizer, list[nn.Parameter], torch.optim.lr_scheduler.LRScheduler | None]


def gradient_steps(loss: torch.Tensor, nets: list[NetStep], clip_grad_val: float | None) -> None:
    """One backward of `loss`, then for each (optimizer, params, scheduler): its own gradient
    clip (one fused norm kernel for all of them), optimizer step and scheduler step. Nets that
    share no parameters each get exactly their own part of the loss's gradient."""
    for optim, _, _ in nets:
        optim.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_val is not None:
        clip_grad_norms([params for _, params, _ in nets], clip_grad_val)
    for optim, _, scheduler in nets:
        optim.step()
        if scheduler is not None:
            scheduler.step()


def gradient_step(
    loss: torch.Tensor,
    optim: torch.optim.Optimizer,
    params: list[nn.Parameter],
    clip_grad_val: float | None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    gradient_steps(loss, [(optim, params, scheduler)], clip_grad_val)
