"""Stop a run whose loss becomes NaN or infinite, naming the batch where it happened."""

from __future__ import annotations

import torch

from minitrain.errors import DivergedError
from minitrain.events import Callback, Order


class DivergenceCallback(Callback):
    """Raises DivergedError naming the epoch, the batch and the learning rate when the loss is not finite.

    On the CPU each loss is checked as soon as it exists, before backward and step, so the bad batch never
    reaches the weights. On an accelerator reading the loss would make the host wait for the device every
    batch, so each batch's check is read one batch later (and the last one when the pass ends): the GPU's
    queue stays full, and the message still names the batch where the loss went bad. Either way the last
    checkpoint (written at the end of the last good epoch) is left as it was.
    """

    order = Order.DIVERGENCE

    def __init__(self, defer: bool | None = None) -> None:
        self.defer = defer  # read each check one batch late; None: on accelerators, not on the CPU

    def before_epoch(self, learn) -> None:
        self.pending = None  # (is-finite flag on the device, loss, batch index) of the batch not yet checked

    def after_loss(self, learn) -> None:
        loss = learn.loss.detach()
        current = (torch.isfinite(loss), loss, learn.iter)
        if not (self.defer if self.defer is not None else loss.device.type != "cpu"):
            self.check(learn, current)
            return
        previous, self.pending = self.pending, current
        if previous is not None:
            self.check(learn, previous)

    def after_epoch(self, learn) -> None:
        if self.pending is not None:
            previous, self.pending = self.pending, None
            self.check(learn, previous)

    def check(self, learn, pending) -> None:
        finite, loss, batch = pending
        if finite.item():
            return
        lr = learn.opt.param_groups[0]["lr"] if learn.opt is not None else float("nan")
        where = "training" if learn.training else "validation"
        raise DivergedError(
            f"The loss became {loss.item()} in epoch {learn.epoch + 1}, batch {batch + 1} "
            f"of {len(learn.dl) if hasattr(learn.dl, '__len__') else '?'} ({where}). The usual cause is a learning rate "
            f"that is too high (it is {lr:g}): try optimizer.lr={lr / 10:g}."
            + (f" The checkpoint of epoch {learn.epoch} (the last good one) is kept." if learn.epoch > 0 else "")
        )
