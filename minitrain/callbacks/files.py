"""Callbacks that write the run directory's metric files: metrics.csv, losses.png and summary.json."""

from __future__ import annotations

import logging
import time

import torch

from minitrain import distributed, rundir
from minitrain.callbacks.early_stop import EarlyStoppingCallback
from minitrain.callbacks.precision import AutocastCallback
from minitrain.errors import DivergedError, ResumeError
from minitrain.events import Callback, Order
from minitrain.reports.figures import loss_curves
from minitrain.atomic import write_csv, write_json

log = logging.getLogger(__name__)


def history_columns(learn) -> list[str]:
    """The task's columns (learn.task), then any other key a callback added to the history, in order of first
    appearance."""
    known = learn.task.columns if learn.task is not None else []
    return list(dict.fromkeys([*known, *(key for row in learn.history for key in row)]))


class CSVLoggerCallback(Callback):
    """metrics.csv: header plus one row per finished epoch, rewritten atomically after each epoch.

    Rewriting the whole (small) file means a kill can never leave a torn or duplicated line.
    """

    order = Order.CSV

    def __init__(self, filename: str = rundir.METRICS) -> None:
        self.filename = filename

    def after_epoch(self, learn) -> None:
        if not learn.training and learn.run_dir is not None and learn.history:
            write_csv(learn.run_dir / self.filename, learn.history, history_columns(learn))


class LossPlotCallback(Callback):
    """losses.png: the smoothed training loss batch by batch, and the training and validation loss of each
    epoch as points, redrawn after every epoch. The per-batch losses travel in the checkpoint, so a resumed
    run's plot starts at the beginning."""

    order = Order.PLOTS

    def __init__(self) -> None:
        self.batch_losses: list[float] = []  # every training batch's loss so far, in order
        self.pending: list[torch.Tensor] = []  # this pass's, still on the device

    def state_dict(self) -> dict:
        return {"batch_losses": list(self.batch_losses)}

    def load_state_dict(self, state: dict) -> None:
        self.batch_losses = list(state["batch_losses"])

    def after_batch(self, learn) -> None:
        if learn.training and learn.run_dir is not None:
            self.pending.append(learn.loss.detach().float())

    def after_epoch(self, learn) -> None:
        if learn.run_dir is None:
            return
        if learn.training:
            if self.pending:  # one transfer per pass, not one per batch
                self.batch_losses += torch.stack(self.pending).cpu().tolist()
            self.pending = []
        elif learn.history:
            loss_curves(learn.run_dir / "losses.png", self.batch_losses, learn.history)


def _stopper(learn):
    """The callback that ended the fit early (learn.stopped_by names its class), or None when the fit ran on."""
    return next((cb for cb in learn.cbs if type(cb).__name__ == getattr(learn, "stopped_by", None)), None)


def precision_of(learn) -> str:
    """The number format the forward pass ran in: the autocast callback's dtype (trainer.precision=auto resolved)."""
    dtype = next((cb.dtype for cb in learn.cbs if isinstance(cb, AutocastCallback)), None)
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def status_of(exception: BaseException | None) -> str:
    """completed, interrupted (Ctrl-C / SIGTERM), diverged (NaN/inf loss) or failed, from what ended the fit."""
    if exception is None:
        return "completed"
    if isinstance(exception, KeyboardInterrupt):
        return "interrupted"
    return "diverged" if isinstance(exception, DivergedError) else "failed"


class SummaryCallback(Callback):
    """summary.json: status, final and best metrics, wall time, parameter count, device and processes, data (and what
    was validated on) and model.

    Written in `cleanup_fit`, so a run that stops early or fails still leaves its summary. A callback that ends
    the fit early may say how the run ended (its `status`, e.g. "pruned") and after which epoch (`stopped_epoch`).
    """

    order = Order.SUMMARY

    def __init__(self, dataset: str = "", model: str = "", model_class: str = "") -> None:
        self.dataset, self.model, self.model_class = dataset, model, model_class
        self.started = time.perf_counter()  # reset in before_fit; set here for a fit that fails before it

    def before_fit(self, learn) -> None:
        self.started = time.perf_counter()

    def cleanup_fit(self, learn) -> None:
        stopper = _stopper(learn)  # early stopping and a search's pruning (stopped_epoch) say why themselves
        if stopper is not None and not hasattr(stopper, "stopped_epoch") and learn.exception is None and learn.history:
            log.info("%s ended the fit after epoch %d of %d", learn.stopped_by, learn.history[-1].get("epoch", 0),
                     learn.n_epochs)
        if learn.run_dir is None or isinstance(learn.exception, ResumeError):
            return  # a resume that could not restore the run leaves the run's own summary as it was
        write_json(learn.run_dir / rundir.SUMMARY, self.summary(learn))

    def summary(self, learn) -> dict:
        spec = learn.task
        best = spec.best_row(learn.history) if spec is not None else None
        data = learn.dls.data
        error = learn.exception
        stopper = _stopper(learn)
        stopped = getattr(stopper, "stopped_epoch", None)
        status = getattr(stopper, "status", None) if error is None else None  # e.g. a search pruned the run
        return {
            "status": status or status_of(error),
            **({"error": str(error) or type(error).__name__} if status_of(error) in ("failed", "diverged") else {}),
            "dataset": self.dataset,
            "model": self.model,
            "model_class": self.model_class,
            "task": spec.name if spec is not None else None,
            "device": str(next(learn.model.parameters()).device),
            "world_size": distributed.current().world_size,  # how many torchrun processes trained (1: one)
            "precision": precision_of(learn),  # what trainer.precision ran as (auto: bf16 where native, else fp32)
            "cpu_threads": torch.get_num_threads(),  # torch's intra-op threads (a share of the cores in a parallel sweep)
            "parameters": sum(p.numel() for p in learn.model.parameters()),
            "epochs_completed": len(learn.history),
            "epochs_planned": learn.n_epochs,
            "stopped_early": isinstance(stopper, EarlyStoppingCallback),  # trainer.early_stop_patience ended the fit
            "stopped_epoch": stopped,  # the last epoch trained when a callback ended the fit early (or pruned it)
            "stopped_by": getattr(learn, "stopped_by", None),  # the callback that ended the fit early, if one did
            "final": learn.history[-1] if learn.history else {},
            "best_epoch": best["epoch"] if best else None,
            "best": {"metric": spec.monitor, "value": best[spec.monitor]} if best else None,
            "wall_seconds": round(time.perf_counter() - self.started, 3),
            "data_source": getattr(data, "source", None),
            "validation": getattr(data, "validation", None),  # the split validated on, or the share held out of train
            "data_seconds": round(data.seconds, 3) if data is not None else None,
        }
