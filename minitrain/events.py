"""The Learner's event contract, below everything that trains: `Callback`, the phases of `Order`, the cancel exceptions.

Callbacks import these from here (or from `minitrain.learner`, which re-exports them for the course's imports),
so no callback needs the Learner itself and the Learner may offer callbacks (the LR finder) as methods.
"""

from __future__ import annotations


class Order:
    """Callback orders, by the phase each belongs to: lower runs first at every event, ties keep the given order.

    A callback picks the phase whose neighbours it must follow, e.g. `order = Order.RECIPE + 1`.
    """

    INTERRUPT = -25   # batch: acts on a Ctrl-C at a batch edge, before any other callback starts work on it
    DEVICE = -20      # batch: moves the batch to the device before anything reads it
    AUGMENT = -18     # batch: rewrites training inputs, on the device
    PRECISION = -15   # predict..step: autocast around the forward pass; fp16 owns backward and step
    TTA = -15         # predict: averages validation predictions before anyone reads them
    METRICS = -10     # epoch: completes the epoch's row of learn.history
    LR_FINDER = -7    # loss: records the loss before DIVERGENCE calls a NaN an error
    DIVERGENCE = -5   # loss, epoch: stops a non-finite loss before it is stepped on or saved
    RECIPE = 0        # the training recipe (lr schedule, gradient clipping) and callbacks that set no order
    CSV = 3           # epoch: the finished row reaches metrics.csv before the checkpoint is saved, so a save
                      # that fails (a full disk) still leaves the epoch's metrics on disk
    CHECKPOINT = 5    # fit: restores a resumed run after the schedule exists, before reporters read
                      # start_epoch; epoch: saves once the row is complete and checked
    PROGRESS = 10     # the reporters, in turn: progress display, plots, pictures, summary.json
    PLOTS = 30
    IMAGES = 40
    SUMMARY = 50
    LOGGERS = 55      # epoch: trackers (TensorBoard, MLflow, W&B) log the finished epoch and the files written for it
    EARLY_STOP = 60   # epoch: ends the fit only once every other callback has seen the finished epoch


class CancelFitException(Exception):
    """Raise in a callback to end training now; `after_fit` is skipped, `cleanup_fit` runs."""


class CancelEpochException(Exception):
    """Raise in a callback to end the current pass (training or validation) early."""


class CancelBatchException(Exception):
    """Raise in a callback to skip the rest of the current batch."""


CANCEL = {"fit": CancelFitException, "epoch": CancelEpochException, "batch": CancelBatchException}
CANCELS = tuple(CANCEL.values())
STEPS = ("predict", "get_loss", "backward", "step", "zero_grad")  # a callback defining one takes it over


class Callback:
    """Base class: define methods named after events (`before_fit`, `after_loss`, ...) or steps, taking the learner."""

    order: int = Order.RECIPE
