"""The callback-driven training loop: fit -> epochs -> training and validation passes -> batches.

The design is miniai's (fast.ai course 2022, part 2): every step is a method, every step is
surrounded by `before_*`/`after_*` events that callbacks answer, and three exceptions let a
callback cancel a batch, a pass or the whole fit. `cleanup_*` events run whatever happened.

What a callback may read on the learner (and nothing else is promised):

    model, opt, loss_func, dls          the pieces being trained
    run_dir                             the run directory (None when training outside the CLI)
    epoch, n_epochs, start_epoch        the current epoch (from 0), the total, where fit began
    training                            True in the training pass, False in the validation pass
    dl, iter, batch                     the current loader, batch index and batch (inputs, targets)
    preds, loss                         the model's output and the loss on the current batch
    history                             one dict of metrics per finished epoch (see MetricsCallback)
    exception                           the exception ending the fit, if one is (readable in cleanup_*)

`before_epoch`/`after_epoch`/`cleanup_epoch` fire once per pass, as in miniai; read `training`
to know which. An epoch is complete at `after_epoch` with `training` False.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CancelFitException(Exception):
    """Raise in a callback to end training now; `after_fit` is skipped, `cleanup_fit` runs."""


class CancelEpochException(Exception):
    """Raise in a callback to end the current pass (training or validation) early."""


class CancelBatchException(Exception):
    """Raise in a callback to skip the rest of the current batch."""


_CANCEL = {"fit": CancelFitException, "epoch": CancelEpochException, "batch": CancelBatchException}
_CANCELS = tuple(_CANCEL.values())


class Callback:
    """Base class: define methods named after events (`before_fit`, `after_loss`, ...) taking the learner.

    Callbacks run in ascending `order`; ties keep the order they were given in.
    """

    order: int = 0


@dataclass
class DataLoaders:
    """The two loaders a Learner iterates, and the decoded data behind them (for pictures and reports)."""

    train: Iterable
    valid: Iterable
    data: Any = None  # minitrain.data.ImageData when built by minitrain: images, labels, class names

    def set_epoch(self, epoch: int) -> None:
        """Tell samplers that reshuffle per epoch (they have `set_epoch`) which epoch begins."""
        for dl in (self.train, self.valid):
            sampler = getattr(dl, "sampler", dl)  # DataLoader and DeviceBatches both name theirs `sampler`
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)


class Learner:
    """Trains `model` on `dls` by minimising `loss_func`, with `callbacks` doing everything else."""

    def __init__(
        self,
        model: nn.Module,
        dls: DataLoaders,
        loss_func: Callable[..., torch.Tensor],
        opt_func: Callable[..., torch.optim.Optimizer],
        callbacks: Iterable[Callback] = (),
        run_dir: str | Path | None = None,
    ) -> None:
        self.model, self.dls, self.loss_func, self.opt_func = model, dls, loss_func, opt_func
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.opt: torch.optim.Optimizer | None = None
        self.history: list[dict[str, Any]] = []
        self.epoch = self.start_epoch = self.n_epochs = 0
        self.training = False
        self.exception: BaseException | None = None

    def fit(self, n_epochs: int) -> None:
        """Train for epochs `start_epoch` .. `n_epochs - 1`, validating after each training pass.

        A callback may move `start_epoch` forward in `before_fit` (to resume a run).
        """
        self.n_epochs = n_epochs
        if self.opt is None:
            self.opt = self.opt_func(self.model.parameters())
        self._with_events("fit", self._all_epochs)

    def _all_epochs(self) -> None:
        for self.epoch in range(self.start_epoch, self.n_epochs):
            self.dls.set_epoch(self.epoch)
            self._one_pass(training=True)
            with torch.no_grad():
                self._one_pass(training=False)

    def _one_pass(self, training: bool) -> None:
        self.training = training
        self.model.train(training)
        self.dl = self.dls.train if training else self.dls.valid
        self._with_events("epoch", self._all_batches)

    def _all_batches(self) -> None:
        for self.iter, self.batch in enumerate(self.dl):
            self._with_events("batch", self._one_batch)

    def _one_batch(self) -> None:
        self._with_step_events("predict", self.predict)
        self._with_step_events("loss", self.get_loss)
        if self.training:
            self._with_step_events("backward", self.backward)
            self._with_step_events("step", self.step)
            self.zero_grad()

    # The steps of one batch: override them in a subclass to change how a model is trained.
    def predict(self) -> None:
        self.preds = self.model(self.batch[0])

    def get_loss(self) -> None:
        self.loss = self.loss_func(self.preds, *self.batch[1:])

    def backward(self) -> None:
        self.loss.backward()

    def step(self) -> None:
        self.opt.step()

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def _with_events(self, level: str, body: Callable[[], None]) -> None:
        try:
            self.callback(f"before_{level}")
            body()
            self.callback(f"after_{level}")
        except _CANCEL[level]:
            pass
        except BaseException as e:
            if not isinstance(e, _CANCELS):  # a cancel on its way to its own level is control flow, not a failure
                self.exception = e  # so cleanup callbacks can tell a failed or interrupted run from a finished one
            raise
        finally:
            self.callback(f"cleanup_{level}")

    def _with_step_events(self, name: str, body: Callable[[], None]) -> None:
        self.callback(f"before_{name}")
        body()
        self.callback(f"after_{name}")

    def callback(self, event: str) -> None:
        """Call `event` on every callback that defines it, in order."""
        for cb in self.callbacks:
            method = getattr(cb, event, None)
            if method is not None:
                method(self)
