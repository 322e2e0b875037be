"""Stop a run whose best-epoch metric has stopped improving."""

from __future__ import annotations

import logging

from minitrain.events import Callback, CancelFitException, Order
from minitrain.tasks import TASKS

log = logging.getLogger(__name__)


class EarlyStoppingCallback(Callback):
    """Ends the fit once the task's monitored metric (valid_accuracy, valid_loss, ...: see minitrain.tasks)
    has not improved for `patience` epochs. `stopped_epoch` is the last epoch trained, None if it ran to the end.

    The count is read from `learn.history` every epoch, so a resumed run stops exactly where an unbroken one would.
    """

    order = Order.EARLY_STOP

    def __init__(self, patience: int, task: str = "classification") -> None:
        self.patience, self.spec = patience, TASKS[str(task)]
        self.stopped_epoch: int | None = None

    def before_fit(self, learn) -> None:
        self.stopped_epoch = None

    def epochs_without_improvement(self, history: list[dict]) -> int:
        best, since = None, 0
        for row in history:
            value = row.get(self.spec.monitor)
            if value is not None and self.spec.is_better(value, best):
                best, since = value, 0
            else:
                since += 1
        return since

    def after_epoch(self, learn) -> None:
        if learn.training or learn.epoch + 1 >= learn.n_epochs:
            return  # the last epoch ends the fit anyway: that is not stopping early
        if self.epochs_without_improvement(learn.history) >= self.patience:
            self.stopped_epoch = learn.epoch + 1
            log.info("Early stopping after epoch %d: %s has not improved for %d epochs",
                     self.stopped_epoch, self.spec.monitor, self.patience)
            raise CancelFitException()
