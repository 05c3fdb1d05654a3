"""Device resolution from net.gpu, and checkpoints that load on any device."""

from __future__ import annotations

import pytest
import torch

from slm_lab.lib import device as device_mod
from slm_lab.lib.device import resolve_device
from slm_lab.spec.errors import SpecError
from slm_lab.spec.schema import MLPNetSpec


def test_auto_and_false_are_the_cpu_on_a_machine_without_cuda(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 0)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(False) == torch.device("cpu")
    assert resolve_device("cpu", session=3) == torch.device("cpu")


@pytest.mark.parametrize("gpu", [True, "cuda", "cuda:0", "cuda:1"])
def test_cuda_asked_for_on_a_cpu_machine_is_a_one_line_spec_error(monkeypatch, gpu):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 0)
    with pytest.raises(SpecError, match="asks for CUDA, but this machine has none") as e:
        resolve_device(gpu)
    assert "\n" not in str(e.value)


def test_sessions_spread_over_the_gpus(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_count", lambda: 3)
    assert [resolve_device("auto", session=j).index for j in range(5)] == [0, 1, 2, 0, 1]
    assert resolve_device(True, session=4) == torch.device("cuda", 1)
    assert resolve_device("cuda:2", session=0) == torch.device("cuda", 2)
    with pytest.raises(SpecError, match="'cuda:3' does not exist: this machine has 3 CUDA devices"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cuda:x", "tpu", 1, 0.5])
def test_the_schema_refuses_what_is_not_a_device(bad):
    with pytest.raises(ValueError):
        MLPNetSpec(gpu=bad)


@pytest.mark.parametrize("good", ["auto", True, False, "cpu", "cuda", "cuda:1", "mps"])
def test_the_schema_takes_each_device_form(good):
    assert MLPNetSpec(gpu=good).gpu == good
