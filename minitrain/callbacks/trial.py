"""Report every epoch to a hyper-parameter search's trial, and end the fit when the search prunes it."""

from __future__ import annotations

import logging
import math
from typing import Any

from minitrain.events import Callback, CancelFitException, Order
from minitrain.search import epoch_value

log = logging.getLogger(__name__)


class TrialCallback(Callback):
    """After each epoch, reports the number the search optimises (what the run would return if it ended now:
    minitrain.search.epoch_value) to `trial` at step = the epoch, and ends the fit once `trial.should_prune()`.

    `trial` is an Optuna trial (hydra/sweeper=optuna opens it for each job), or anything with `report(value, step)`
    and `should_prune()`. A pruned run keeps every file of the epochs it trained; summary.json says "pruned"
    (`status`) and `stopped_epoch` is its last epoch. The last epoch ends the fit anyway: it is never pruned."""

    order = Order.EARLY_STOP
    status = "pruned"  # what summary.json records when this callback ends the fit

    def __init__(self, trial: Any, task: str = "classification", metric: str | None = None) -> None:
        self.trial, self.task, self.metric = trial, str(task), metric
        self.stopped_epoch: int | None = None

    def before_fit(self, learn) -> None:
        self.stopped_epoch = None

    def after_epoch(self, learn) -> None:
        if learn.training or not learn.history:
            return
        epoch = learn.history[-1]["epoch"]
        value = epoch_value(learn.history, self.task, self.metric)
        if math.isfinite(value):
            self.trial.report(value, step=epoch)
        if learn.epoch + 1 < learn.n_epochs and self.trial.should_prune():
            self.stopped_epoch = epoch
            log.info("Pruned after epoch %d: the search's pruner stops this trial (its value %.4g)", epoch, value)
            raise CancelFitException()
