"""Stop a run whose loss becomes NaN or infinite, naming the batch where it happened; warn when validation
accuracy collapses while the loss stays finite."""

from __future__ import annotations

import logging

import torch

from minitrain.errors import DivergedError
from minitrain.events import Callback, Order

log = logging.getLogger(__name__)

COLLAPSE = 0.5  # an epoch whose validation accuracy falls below this share of the best so far has collapsed


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
        self.warned = False

    def before_fit(self, learn) -> None:
        self.warned = False  # one collapse warning per fit: the epochs after it say nothing new

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
        if not learn.training:
            self.warn_if_collapsed(learn)

    def warn_if_collapsed(self, learn) -> None:
        """A too-high learning rate can throw a classifier back to chance without any NaN (the lesson's SGD at
        lr 0.4: 84.96% after epoch 4, 10.00% after epoch 5); the run would end `completed`, so say it."""
        accuracies = [row.get("valid_accuracy") for row in learn.history]
        earlier = [a for a in accuracies[:-1] if a is not None]
        if self.warned or not earlier or accuracies[-1] is None:
            return
        best, last = max(earlier), accuracies[-1]
        if last < COLLAPSE * best:
            self.warned = True
            best_epoch = learn.history[accuracies.index(best)]["epoch"]
            log.warning(f"Validation accuracy fell from {best:.2%} (epoch {best_epoch}) to {last:.2%} in epoch "
                        f"{learn.history[-1]['epoch']} with a finite loss: the training diverged. The usual cause is a "
                        f"learning rate that is too high (it is {current_lr(learn):g} now): try a lower optimizer.lr, e.g. a tenth.")

    def check(self, learn, pending) -> None:
        finite, loss, batch = pending
        if finite.item():
            return
        lr = current_lr(learn)
        where = "training" if learn.training else "validation"
        raise DivergedError(
            f"The loss became {loss.item()} in epoch {learn.epoch + 1}, batch {batch + 1} "
            f"of {len(learn.dl) if hasattr(learn.dl, '__len__') else '?'} ({where}). The usual cause is a learning rate "
            f"that is too high (it is {lr:g}): try optimizer.lr={lr / 10:g}."
            + (f" The checkpoint of epoch {learn.epoch} (the last good one) is kept." if learn.epoch > 0 else "")
        )


def current_lr(learn) -> float:
    """The learning rate of the optimizer's first group now (NaN before there is an optimizer)."""
    return learn.opt.param_groups[0]["lr"] if learn.opt is not None else float("nan")
