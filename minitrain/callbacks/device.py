"""Put the model and every batch on the training device (minitrain.device picks it)."""

from __future__ import annotations

import torch

from minitrain.events import Callback, Order
from minitrain.forward import to_device


class DeviceCallback(Callback):
    """Moves the model to the device before fit and each batch before it is used (NHWC with `channels_last`)."""

    order = Order.DEVICE

    def __init__(self, device: torch.device | str = "cpu", channels_last: bool = False) -> None:
        self.device = torch.device(device)
        self.channels_last = channels_last

    def before_fit(self, learn) -> None:
        learn.model.to(self.device)

    def before_batch(self, learn) -> None:
        learn.batch = to_device(learn.batch, self.device, self.channels_last)
