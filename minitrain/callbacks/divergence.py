"""Stop a run whose loss becomes NaN or infinite, in the batch where it happens."""

from __future__ import annotations

import torch

from minitrain.errors import DivergedError
from minitrain.learner import Callback


class DivergenceCallback(Callback):
    """Raises DivergedError naming the epoch, the batch and the learning rate when the loss is not finite.

    It runs before backward and step, so the bad batch never reaches the weights; the last
    checkpoint (written at the end of the last good epoch) is left as it was.
    """

    order = -5

    def after_loss(self, learn) -> None:
        if torch.isfinite(learn.loss.detach()).item():
            return
        lr = learn.opt.param_groups[0]["lr"] if learn.opt is not None else float("nan")
        where = "training" if learn.training else "validation"
        raise DivergedError(
            f"The loss became {learn.loss.item()} in epoch {learn.epoch + 1}, batch {learn.iter + 1} "
            f"of {len(learn.dl) if hasattr(learn.dl, '__len__') else '?'} ({where}). The usual cause is a learning rate "
            f"that is too high (it is {lr:g}): try optimizer.lr={lr / 10:g}."
            + (f" The checkpoint of epoch {learn.epoch} (the last good one) is kept." if learn.epoch > 0 else "")
        )
