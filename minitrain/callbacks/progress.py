"""Show training as it happens: rich bars and a metrics table in a terminal, one plain line per epoch elsewhere."""

from __future__ import annotations

import logging
import time

from minitrain import distributed
from minitrain.events import Callback, Order

history_log = logging.getLogger("minitrain.file")  # the run's log file only (configs/hydra/job_logging)


def cell(key: str, value) -> str:
    """A value of the epoch's row as shown: metrics to 4 decimals, seconds always to 2 (3.10, never 3.1 beside 1.762)."""
    if isinstance(value, (int, float)) and key == "seconds":
        return f"{value:.2f}"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def format_row(row: dict, n_epochs: int) -> str:
    """'epoch 2/5  train_loss 0.5012  valid_loss 0.4871  valid_accuracy 0.8254  seconds 3.10'."""
    parts = [f"epoch {row['epoch']}/{n_epochs}"]
    parts += [f"{k} {cell(k, v)}" for k, v in row.items() if k != "epoch"]
    return "  ".join(parts)


class ProgressCallback(Callback):
    """Progress bars for epochs and batches with the running loss, and a table that grows by a row per epoch."""

    order = Order.PROGRESS  # after CHECKPOINT: a resumed run's epoch bar starts at the restored epoch

    def __init__(self, refresh_seconds: float = 0.2) -> None:
        self.refresh_seconds = refresh_seconds  # how often the running loss is read (each read waits for the device)
        self.live = None  # set here too: cleanup_fit runs even when an earlier callback's before_fit failed

    def before_fit(self, learn) -> None:
        from rich.console import Console

        self.console = Console()
        self.live = None
        self.enabled = distributed.current().is_main  # one progress display per distributed job, not one per rank
        if self.enabled and self.console.is_terminal:
            self._start_live(learn)

    def _start_live(self, learn) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.table import Table

        self.table = Table(title=None, box=None, header_style="bold")
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[loss]}"), console=self.console,
        )
        self.epochs = self.progress.add_task("epochs", total=learn.n_epochs, completed=learn.start_epoch, loss="")
        self.batches = self.progress.add_task("train", total=None, loss="")
        self.live = Live(Group(self.table, self.progress), console=self.console, refresh_per_second=8)
        self.live.start()

    def before_epoch(self, learn) -> None:
        self.last_read = 0.0
        if self.live:
            total = len(learn.dl) if hasattr(learn.dl, "__len__") else None
            self.progress.reset(self.batches, total=total, description="train" if learn.training else "valid", loss="")

    def after_batch(self, learn) -> None:
        if not self.live:
            return
        self.progress.advance(self.batches)
        now = time.monotonic()
        if learn.training and now - self.last_read > self.refresh_seconds:
            self.last_read = now
            self.progress.update(self.batches, loss=f"loss {learn.loss.item():.4f}")

    def after_epoch(self, learn) -> None:
        if learn.training or not learn.history or not self.enabled:
            return
        row = learn.history[-1]
        history_log.info(format_row(row, learn.n_epochs))
        if self.live:
            if not self.table.columns:
                for key in row:
                    self.table.add_column(key, justify="right")
            self.table.add_row(*(cell(k, v) for k, v in row.items()))
            self.progress.advance(self.epochs)
        else:
            print(format_row(row, learn.n_epochs), flush=True)

    def cleanup_fit(self, learn) -> None:
        if self.live:
            self.live.stop()
            self.live = None
