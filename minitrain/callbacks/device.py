"""Put the model and every batch on the training device (resolved from `device=auto|cpu|cuda|mps`)."""

from __future__ import annotations

import torch

from minitrain.errors import ConfigError
from minitrain.learner import Callback


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


def to_device(batch, device: torch.device):
    """The batch (a tensor, or a tuple or list of them) on `device`; copies from pinned memory overlap compute."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return type(batch)(to_device(b, device) for b in batch)


class DeviceCallback(Callback):
    """Moves the model to the device before fit and each batch before it is used."""

    order = -20  # before anything reads the batch

    def __init__(self, device: torch.device | str = "cpu", channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.channels_last = channels_last

    def before_fit(self, learn) -> None:
        learn.model.to(self.device)

    def before_batch(self, learn) -> None:
        learn.batch = to_device(learn.batch, self.device)
        if self.channels_last:
            x, *rest = learn.batch
            learn.batch = (x.contiguous(memory_format=torch.channels_last), *rest)
