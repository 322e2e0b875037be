"""What a model learns decides its loss, its targets, its metrics and what "best" means."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch.nn.functional as F

from minitrain.metrics import Accuracy, Metric, PSNR


@dataclass(frozen=True)
class TaskSpec:
    """How to train and judge one kind of model."""

    loss: Callable
    target: str  # what loaders yield beside the images: "labels", or the "images" themselves
    metrics: dict[str, Callable[[], Metric]]  # computed on the validation pass
    monitor: str  # the history column that picks the best epoch
    mode: str  # "max" or "min": which direction of `monitor` is better

    def is_better(self, new: float, old: float | None) -> bool:
        if old is None or old != old:  # nothing yet, or NaN so far
            return new == new
        return new > old if self.mode == "max" else new < old


TASKS: dict[str, TaskSpec] = {
    "classification": TaskSpec(F.cross_entropy, "labels", {"accuracy": Accuracy}, "valid_accuracy", "max"),
    "reconstruction": TaskSpec(F.mse_loss, "images", {"psnr": PSNR}, "valid_loss", "min"),
}


def build_loss(task: TaskSpec, label_smoothing: float = 0.0) -> Callable:
    """The task's loss; a cross-entropy with `label_smoothing` takes its targets as that much probability
    spread evenly over all classes, the rest on the true class."""
    return partial(task.loss, label_smoothing=label_smoothing) if label_smoothing else task.loss
