"""Pick the training device named by `device=auto|cpu|cuda|mps`, or say why it cannot be had."""

from __future__ import annotations

import torch

from minitrain.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; naming a device that is not there is a ConfigError.

    Under torchrun each process takes the GPU numbered by its LOCAL_RANK.
    """
    has = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if has[d])
    elif not has.get(name, False):
        raise ConfigError(
            f"device={name} was asked for, but this machine has no {name.upper()} device that PyTorch can use "
            f"(torch {torch.__version__}). Use device=auto to train on the best device available, or device=cpu."
        )
    return torch.device(name, local_rank) if name == "cuda" else torch.device(name)
