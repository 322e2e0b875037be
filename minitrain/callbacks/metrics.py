"""Average the loss and compute the task's metrics each pass; append one row per epoch to `learn.history`."""

from __future__ import annotations

import time
from collections.abc import Callable

from minitrain.events import Callback, Order
from minitrain.metrics import Mean, Metric
from minitrain.tasks import valid_column


class MetricsCallback(Callback):
    """Fills `learn.history` with {epoch, train_loss, valid_loss, valid_<metric>..., seconds} per epoch.

    Losses are weighted by batch size; values stay on the device until the pass ends.
    """

    order = Order.METRICS  # history is complete before the checkpoint and the reporters read it

    def __init__(self, metrics: dict[str, Callable[[], Metric]] | None = None) -> None:
        self.loss = Mean()
        self.given = metrics  # None: the learner's task's metrics (none without a task)
        self.metrics: dict[str, Metric] = {}
        self.row: dict[str, float] = {}

    def before_fit(self, learn) -> None:
        makers = self.given if self.given is not None else (learn.task.metrics if learn.task else {})
        self.metrics = {name: make() for name, make in makers.items()}

    def before_epoch(self, learn) -> None:
        if learn.training or not self.row:  # an epoch's first pass (a validation-only fit has no training pass)
            self.started = time.perf_counter()
            self.row = {"epoch": learn.epoch + 1}
        self.loss.reset()
        for m in self.metrics.values():
            m.reset()

    def after_loss(self, learn) -> None:
        self.loss.add(learn.loss, len(learn.batch[0]))
        if not learn.training:
            for m in self.metrics.values():
                m.add(learn.preds, learn.batch[1])

    def after_epoch(self, learn) -> None:
        device = next(learn.model.parameters()).device
        for m in (self.loss, *self.metrics.values()):
            m.sync(device)  # sum over ranks in distributed training; nothing otherwise
        if learn.training:
            self.row["train_loss"] = self.loss.value
            return
        self.row["valid_loss"] = self.loss.value
        self.row.update({valid_column(name): m.value for name, m in self.metrics.items()})
        self.row["seconds"] = round(time.perf_counter() - self.started, 3)
        learn.history.append(self.row)
        self.row = {}
