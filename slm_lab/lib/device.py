"""Which torch device an agent's nets live on, from `net.gpu` (SB3's device="auto" is the model).

Envs stay numpy on the CPU; nets, optimizers, target nets, sampled batches and losses live on
the agent's device. Checkpoints are loaded onto the CPU first (map_location), so a run saved on
a GPU is enjoyed or resumed on a CPU machine and the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from slm_lab.spec.errors import SpecError

if TYPE_CHECKING:
    import torch

GpuSetting = Union[bool, str]


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(gpu: GpuSetting, session: int = 0, where: str = "net.gpu") -> torch.device:
    """`net.gpu` -> a torch.device. "auto": CUDA when present (session j on GPU j mod n), else CPU;
    True / "cuda": CUDA or a one-line SpecError; False / "cpu": CPU; "cuda:k", "mps": that device."""
    import torch

    n = cuda_count()
    if gpu is False or gpu == "cpu" or (gpu == "auto" and n == 0):
        return torch.device("cpu")
    if gpu == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise SpecError(f"{where}: 'mps' asked for, but this machine has no Apple GPU (use \"auto\" or false)")
        return torch.device("mps")
    if n == 0:
        build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a CPU-only build")
        raise SpecError(f"{where}: {gpu!r} asks for CUDA, but this machine has none ({build}); "
                        f"use \"auto\" or false to train on the CPU")
    if gpu in (True, "auto", "cuda"):
        return torch.device("cuda", session % n)
    index = int(str(gpu).partition(":")[2])
    if index >= n:
        raise SpecError(f"{where}: {gpu!r} does not exist: this machine has {n} CUDA device{'s' if n > 1 else ''} (cuda:0..cuda:{n - 1})")
    return torch.device("cuda", index)


def enable_compile_cache() -> None:
    """torch.compile's caches (FX graphs, Inductor kernels) in the lab's cache folder, so the
    next run of the same nets and shapes does not compile again. An env var set by the user wins."""
    import os

    from slm_lab.lib.config import cache_dir

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "torch_compile"))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
