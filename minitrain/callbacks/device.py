"""Put the model and every batch on the training device (minitrain.device picks it)."""

from __future__ import annotations

import torch

from minitrain.learner import Callback, Order


def to_device(batch, device: torch.device):
    """The batch (a tensor, or a tuple or list of them) on `device`; copies from pinned memory overlap compute."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    return type(batch)(to_device(b, device) for b in batch)


class DeviceCallback(Callback):
    """Moves the model to the device before fit and each batch before it is used."""

    order = Order.DEVICE

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
