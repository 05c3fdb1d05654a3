"""BatchRenorm1d against Ioffe (2017)'s formulas, in its warm-up, renorm and eval modes."""

from __future__ import annotations

import torch

from slm_lab.agent.net.batch_renorm import BatchRenorm1d, BatchRenormMLP

EPS = 1e-3


def test_warmup_is_batch_norm_and_moves_the_running_statistics():
    brn = BatchRenorm1d(3, momentum=0.1, eps=EPS, warmup_steps=10)
    x = torch.tensor([[1.0, 2.0, -1.0], [3.0, 0.0, -1.0], [5.0, 4.0, 2.0]])
    y = brn(x)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    torch.testing.assert_close(y, (x - mean) / (var + EPS).sqrt())
    torch.testing.assert_close(brn.running_mean, 0.1 * mean)  # 0.9 * 0 + 0.1 * mean
    torch.testing.assert_close(brn.running_var, 0.9 * torch.ones(3) + 0.1 * var)
    assert int(brn.steps) == 1


def test_renorm_corrects_toward_the_running_statistics_with_clipped_r_and_d():
    brn = BatchRenorm1d(2, momentum=0.01, eps=EPS, r_max=2.0, d_max=1.0, warmup_steps=0)
    brn.running_mean.copy_(torch.tensor([0.0, 10.0]))
    brn.running_var.copy_(torch.tensor([4.0, 1.0]))
    with torch.no_grad():
        brn.weight.copy_(torch.tensor([2.0, 1.0]))
        brn.bias.copy_(torch.tensor([0.5, 0.0]))
    x = torch.tensor([[0.0, 0.0], [2.0, 6.0]])  # batch mean [1, 3], biased var [1, 9]
    y = brn(x)
    sigma_b = torch.tensor([1.0, 9.0]).add(EPS).sqrt()
    sigma = torch.tensor([4.0, 1.0]).add(EPS).sqrt()
    r = (sigma_b / sigma).clamp(0.5, 2.0)  # [~0.5, 2 (clipped from ~3)]
    d = ((torch.tensor([1.0, 3.0]) - torch.tensor([0.0, 10.0])) / sigma).clamp(-1.0, 1.0)  # [~0.5, -1 (clipped)]
    assert r[1] == 2.0 and d[1] == -1.0
    x_hat = (x - torch.tensor([1.0, 3.0])) / sigma_b * r + d
    torch.testing.assert_close(y, torch.tensor([2.0, 1.0]) * x_hat + torch.tensor([0.5, 0.0]))


def test_r_and_d_carry_no_gradient():
    torch.manual_seed(0)
    brn = BatchRenorm1d(4, warmup_steps=0)
    brn.running_mean.copy_(torch.randn(4))
    brn.running_var.copy_(torch.rand(4) + 0.5)
    x = torch.randn(8, 4, requires_grad=True)
    mean_run, sigma = brn.running_mean.clone(), (brn.running_var + brn.eps).sqrt()
    brn(x).pow(2).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    mean, sigma_b = x2.mean(0), (x2.var(0, unbiased=False) + brn.eps).sqrt()
    r, d = (sigma_b / sigma).clamp(1 / 3, 3).detach(), ((mean - mean_run) / sigma).clamp(-5, 5).detach()
    ((x2 - mean) / sigma_b * r + d).pow(2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_eval_uses_only_the_running_statistics():
    brn = BatchRenorm1d(2, eps=EPS)
    brn.running_mean.copy_(torch.tensor([1.0, -2.0]))
    brn.running_var.copy_(torch.tensor([4.0, 0.25]))
    brn.eval()
    x = torch.tensor([[3.0, -1.0]])  # a single row: batch statistics would be degenerate
    expected = (x - brn.running_mean) / (brn.running_var + EPS).sqrt()
    torch.testing.assert_close(brn(x), expected)
    assert int(brn.steps) == 0  # eval does not count or move statistics


def test_mlp_has_renorm_on_input_and_every_hidden_layer():
    mlp = BatchRenormMLP(5, [16, 8], 1)
    assert sum(isinstance(m, BatchRenorm1d) for m in mlp.modules()) == 3
    assert mlp(torch.randn(6, 5)).shape == (6, 1)
