"""The callback-driven training loop: fit -> epochs -> training and validation passes -> batches.

The design is miniai's (fast.ai course 2022, part 2), and so is the surface a course student knows:

    learn = Learner(model, dls, loss_func, lr=0.1, cbs=[...], opt_func=torch.optim.SGD)
    learn.fit(n_epochs=1, train=True, valid=True, cbs=None, lr=None)
    learn.lr_find()                          # the LR finder is one more callback, added for one fit
    learn.lr_find(gamma=1.3, max_mult=3, start_lr=1e-5, max_epochs=10)   # the course's own finder

`cbs` may be one callback or a list, wherever callbacks are given (as fastcore's `L` takes them). Every `fit`
builds a fresh optimizer, at `lr` or else `learn.lr` (an `opt_func` of None keeps `learn.opt` as it is).

Every step of a batch is surrounded by `before_*`/`after_*` events that callbacks answer, and three
exceptions let a callback cancel a batch, a pass or the whole fit; `cleanup_*` events run whatever happened.

The steps (`predict`, `get_loss`, `backward`, `step`, `zero_grad`) are the Learner's methods, and a
callback that defines one takes it over (as the course's TrainCB and mixed-precision callback do): each
step runs the callbacks that define it, or the Learner's own method when none does. A subclass that overrides
a step (the course's MomentumLearner and its zero_grad) keeps it: callbacks take a step only where the
Learner's method is the base one. Validation runs `predict` and `get_loss` only, without gradients.

What a callback may read on the learner (and nothing else is promised):

    model, opt, loss_func, dls, lr      the pieces being trained (`dls`: anything with `.train` and `.valid`)
    cbs                                 the live callback list (appending works; it is sorted at each fit)
    task                                a minitrain.tasks.TaskSpec (loss, metrics, best epoch), or None
    run_dir                             the run directory (None when training outside the CLI)
    epoch, n_epochs, start_epoch        the current epoch (from 0), the total, where fit began
    epochs                              what the fit iterates: range(start_epoch, n_epochs), set before
                                        `before_fit`; a callback may wrap it (the course's ProgressCB makes it a
                                        fastprogress master_bar), else it follows start_epoch/n_epochs moved there
    training                            the model's own flag (`model.training`; setting it sets the model's mode):
                                        True in the training pass, False in the validation pass
    dl, iter, batch                     the current loader, batch index and batch (inputs, targets)
    preds, loss                         the model's output and the loss on the current batch
    history                             one dict of metrics per finished epoch (see MetricsCallback)
    exception                           the exception ending the fit, if one is (readable in cleanup_*)
    stopped_by                          the class name of the callback that ended the fit early, if one did

`before_epoch`/`after_epoch`/`cleanup_epoch` fire once per pass, as in miniai; read `training`
to know which. An epoch is complete at `after_epoch` with `training` False; a callback that raises
CancelFitException there ends the fit after every other callback has seen that epoch.
Callbacks run in ascending `order`; `Order` below names the phases minitrain's own callbacks use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from minitrain.callbacks.lr_find import LRFinderCallback
from minitrain.data.loaders import DataLoaders
from minitrain.events import (CANCEL, CANCELS, STEPS, Callback, CancelBatchException, CancelEpochException,
                              CancelFitException, Order)

if TYPE_CHECKING:
    from minitrain.tasks import TaskSpec

# The course imports these from the learner module: they live in minitrain.events, below every callback.
__all__ = ["Callback", "CancelBatchException", "CancelEpochException", "CancelFitException", "DataLoaders",
           "Learner", "Order", "STEPS"]


class Learner:
    """Trains `model` on `dls` by minimising `loss_func` with `opt_func(params, lr=lr)` (lr None: opt_func's own);
    `cbs` do everything else."""

    def __init__(
        self,
        model: nn.Module,
        dls: Any,
        loss_func: Callable[..., torch.Tensor],
        lr: float | None = 0.1,
        cbs: Iterable[Callback] | None = None,
        opt_func: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
        *,
        task: TaskSpec | None = None,
        run_dir: str | Path | None = None,
    ) -> None:
        self.model, self.dls, self.loss_func, self.lr, self.opt_func = model, dls, loss_func, lr, opt_func
        self.cbs: list[Callback] = self._as_list(cbs)
        self.task = task
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.opt: torch.optim.Optimizer | None = None
        self.history: list[dict[str, Any]] = []
        self.epoch = self.start_epoch = self.n_epochs = 0
        self.epochs: Iterable[int] = range(0)
        self.exception: BaseException | None = None
        self.stopped_by: str | None = None  # the callback that ended the last fit early, if one did

    @property
    def training(self) -> bool:
        """The model's mode, as in the course: True while it trains."""
        return self.model.training

    @training.setter
    def training(self, training: bool) -> None:
        self.model.train(training)

    @staticmethod
    def _as_list(cbs: Callback | Iterable[Callback] | None) -> list[Callback]:
        """None -> [], one callback -> [it], any other iterable -> its list (fastcore's `L(cbs)`, minus its
        habit of iterating a callback that happens to be iterable, such as the course's HooksCallback)."""
        if cbs is None:
            return []
        if hasattr(cbs, "order") or not isinstance(cbs, Iterable):
            return [cbs]
        return list(cbs)

    def fit(self, n_epochs: int = 1, train: bool = True, valid: bool = True,
            cbs: Callback | Iterable[Callback] | None = None, lr: float | None = None) -> None:
        """Train for epochs `start_epoch` .. `n_epochs - 1`, each a training pass then a validation pass.

        `cbs` (one or a list) join `learn.cbs` for this call only. Each fit builds a fresh optimizer at `lr`, or
        `learn.lr` when None (as the course's Learner does). A callback may move `start_epoch` forward in
        `before_fit` (to resume a run) or change `n_epochs` (the LR finder); `learn.epochs` follows unless a
        callback replaced it.
        """
        extra = self._as_list(cbs)
        self.stopped_by = None
        self.cbs.extend(extra)
        self.cbs.sort(key=lambda cb: cb.order)  # stable: ties keep the order they were given in
        try:
            self.n_epochs = n_epochs
            self.epochs = planned = range(self.start_epoch, n_epochs)
            if self.opt_func is not None:
                self.opt = self._make_opt(self.lr if lr is None else lr)
            self._with_events("fit", lambda: self._all_epochs(planned, train, valid))
        finally:
            for cb in extra:
                self.cbs.remove(cb)

    def lr_find(self, start_lr: float | None = None, end_lr: float = 10.0, num_iter: int = 150, *,
                gamma: float | None = None, max_mult: float | None = None, max_epochs: int | None = None,
                **options) -> dict | None:
        """Train with a growing lr until the loss explodes; returns the suggestion and the curve (see LRFinderCallback).

        Two forms: minitrain's `lr_find(start_lr=1e-7, end_lr=10, num_iter=150)` sweeps start_lr..end_lr in
        num_iter batches; the course's `lr_find(gamma=1.3, max_mult=3, start_lr=1e-5, max_epochs=10)` (taken when
        any of gamma, max_mult, max_epochs is given) multiplies the lr by gamma each batch and stops once a loss
        exceeds max_mult x the lowest so far, or after max_epochs. The weights are trained by the sweep: build a
        fresh model before training for real.
        """
        if gamma is None and max_mult is None and max_epochs is None:
            finder = LRFinderCallback(1e-7 if start_lr is None else start_lr, end_lr, num_iter, **options)
        else:
            finder = LRFinderCallback.course(gamma=1.3 if gamma is None else gamma,
                                             max_mult=3.0 if max_mult is None else max_mult,
                                             start_lr=1e-5 if start_lr is None else start_lr,
                                             max_epochs=10 if max_epochs is None else max_epochs, **options)
        # all the epochs its batches may need, known before before_fit (so that a progress bar spans them)
        self.fit(finder.epochs_for(self), valid=False, cbs=[finder], lr=finder.start_lr)
        return finder.result

    def _make_opt(self, lr: float | None) -> torch.optim.Optimizer:
        params = self.model.parameters()
        return self.opt_func(params) if lr is None else self.opt_func(params, lr=lr)

    def _all_epochs(self, planned: range, train: bool, valid: bool) -> None:
        moved = range(self.start_epoch, self.n_epochs)
        if self.epochs is planned and moved != planned:  # before_fit resumed or resized the fit, and kept the range
            self.epochs = moved
        for self.epoch in self.epochs:
            if hasattr(self.dls, "set_epoch"):
                self.dls.set_epoch(self.epoch)
            if train:
                self._one_pass(training=True)
            if valid:
                with torch.no_grad():
                    self._one_pass(training=False)

    def _one_pass(self, training: bool) -> None:
        self.training = training  # the model's mode
        self.dl = self.dls.train if training else self.dls.valid
        self._with_events("epoch", self._all_batches)

    def _all_batches(self) -> None:
        for self.iter, self.batch in enumerate(self.dl):
            self._with_events("batch", self._one_batch)

    def _one_batch(self) -> None:
        self._with_step_events("predict", "predict")
        self._with_step_events("loss", "get_loss")
        if self.training:
            self._with_step_events("backward", "backward")
            self._with_step_events("step", "step")
            self._run_step("zero_grad")

    # The default steps: a subclass overriding one keeps it; otherwise a callback defining its name replaces it.
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

    def _run_step(self, name: str) -> None:
        own = getattr(type(self), name) is not getattr(Learner, name)  # a subclass's step wins over callbacks
        owners = [] if own else [cb for cb in self.cbs if callable(getattr(cb, name, None))]
        if not owners:
            getattr(self, name)()
        for cb in owners:
            getattr(cb, name)(self)

    def _with_events(self, level: str, body: Callable[[], None]) -> None:
        try:
            self.callback(f"before_{level}")
            body()
            self.callback(f"after_{level}")
        except CANCEL[level]:
            pass
        except BaseException as e:
            if not isinstance(e, CANCELS):  # a cancel on its way to its own level is control flow, not a failure
                self.exception = e  # so cleanup callbacks can tell a failed or interrupted run from a finished one
            raise
        finally:
            self.callback(f"cleanup_{level}")

    def _with_step_events(self, event: str, step: str) -> None:
        self.callback(f"before_{event}")
        self._run_step(step)
        self.callback(f"after_{event}")

    def callback(self, event: str) -> None:
        """Call `event` on every callback that defines it, in order.

        A callback that ends the fit in `after_epoch` (CancelFitException) ends it once every other callback has
        seen the epoch: the epoch is complete, so its metrics, checkpoint and summary are all recorded.
        `stopped_by` names the callback."""
        stop = None
        for cb in self.cbs:
            method = getattr(cb, event, None)
            if method is None:
                continue
            try:
                method(self)
            except CancelFitException as e:
                if event != "after_epoch":
                    raise
                if stop is None:
                    stop, self.stopped_by = e, type(cb).__name__
        if stop is not None:
            raise stop
