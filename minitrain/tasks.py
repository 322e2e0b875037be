"""What a model learns decides its loss, its targets, its metrics, their column names and what "best" means.

This is the one place those facts live: the Learner carries the run's TaskSpec (`learn.task`), and
metrics.csv, summary.json and sweep.csv take their columns from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch.nn.functional as F

from minitrain.metrics import Accuracy, Metric, PSNR


def valid_column(metric: str) -> str:
    """The history column of a metric computed on the validation pass: `accuracy` -> `valid_accuracy`."""
    return f"valid_{metric}"


@dataclass(frozen=True)
class TaskSpec:
    """How to train and judge one kind of model."""

    name: str  # the `model.task` value that picks it
    loss: Callable
    target: str  # what loaders yield beside the images: "labels", or the "images" themselves
    metrics: dict[str, Callable[[], Metric]]  # computed on the validation pass
    monitor: str  # the history column that picks the best epoch
    mode: str  # "max" or "min": which direction of `monitor` is better

    @property
    def columns(self) -> list[str]:
        """The columns of one epoch's history row, in order (MetricsCallback writes them)."""
        return ["epoch", "train_loss", "valid_loss", *map(valid_column, self.metrics), "seconds"]

    def is_better(self, new: float, old: float | None) -> bool:
        if old is None or old != old:  # nothing yet, or NaN so far
            return new == new
        return new > old if self.mode == "max" else new < old

    def best_row(self, history: list[dict]) -> dict | None:
        """The epoch's row that `monitor` ranks best (the first of equals), or None before any."""
        best = None
        for row in history:
            if self.monitor in row and self.is_better(row[self.monitor], best and best[self.monitor]):
                best = row
        return best


TASKS: dict[str, TaskSpec] = {
    "classification": TaskSpec("classification", F.cross_entropy, "labels", {"accuracy": Accuracy},
                               "valid_accuracy", "max"),
    "reconstruction": TaskSpec("reconstruction", F.mse_loss, "images", {"psnr": PSNR}, "valid_loss", "min"),
}


def all_columns() -> list[str]:
    """Every task's history columns, in order of first appearance and `seconds` last: what a report of mixed runs
    can hold."""
    return [*dict.fromkeys(c for task in TASKS.values() for c in task.columns if c != "seconds"), "seconds"]


def reconstructs(learn) -> bool:
    """Whether the learner's model learns to reproduce its input (False without a task)."""
    task = getattr(learn, "task", None)
    return task is not None and task.target == "images"


def build_loss(task: TaskSpec, label_smoothing: float = 0.0) -> Callable:
    """The task's loss; a cross-entropy with `label_smoothing` takes its targets as that much probability
    spread evenly over all classes, the rest on the true class."""
    return partial(task.loss, label_smoothing=label_smoothing) if label_smoothing else task.loss
