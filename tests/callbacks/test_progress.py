"""The progress display: a resumed run's epoch bar starts at the epochs already done; one format per column."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from minitrain.callbacks import CheckpointCallback, MetricsCallback, OneCycleCallback, ProgressCallback
from minitrain.callbacks.progress import cell, format_row
from minitrain.learner import DataLoaders, Learner
from minitrain.tasks import TASKS


def learner(run_dir, *callbacks) -> Learner:
    g = torch.Generator().manual_seed(0)
    make = lambda: [(torch.randn(4, 4, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(2)]  # noqa: E731
    torch.manual_seed(0)
    cbs = [MetricsCallback(), OneCycleCallback(), *callbacks]
    return Learner(nn.Linear(4, 3), DataLoaders(make(), make()), F.cross_entropy, 0.1, cbs,
                   task=TASKS["classification"], run_dir=run_dir)


def test_a_resumed_runs_epoch_bar_starts_at_the_restored_epoch(tmp_path, monkeypatch):
    learner(tmp_path, CheckpointCallback()).fit(2)  # checkpoints/last.pt after epoch 2
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))  # the rich display, not plain lines
    # The progress callback comes first in the list: the order constants, not the list, decide who runs first.
    progress = ProgressCallback()
    resumed = learner(tmp_path / "resumed", progress, CheckpointCallback(resume=str(tmp_path)))
    resumed.cbs.insert(0, resumed.cbs.pop())  # and whatever order they were given in
    resumed.fit(3)
    assert resumed.start_epoch == 2 and len(resumed.history) == 3
    epochs = progress.progress.tasks[progress.epochs]
    assert (epochs.completed, epochs.total) == (3, 3)  # 2 restored + 1 trained (the bug showed 1 of 3)


def test_the_seconds_column_always_shows_two_decimals_in_lines_and_in_the_table(tmp_path, monkeypatch):
    row = {"epoch": 2, "train_loss": 0.50123, "valid_loss": 0.48712, "valid_accuracy": 0.8254, "seconds": 2.0}
    assert format_row(row, 5) == "epoch 2/5  train_loss 0.5012  valid_loss 0.4871  valid_accuracy 0.8254  seconds 2.00"
    assert [cell("seconds", s) for s in (2.0, 1.54, 1.762, 0.058, 21.717)] == ["2.00", "1.54", "1.76", "0.06", "21.72"]
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: True))
    progress = ProgressCallback()
    learner(tmp_path, progress).fit(2)
    seconds = list(progress.table.columns[-1].cells)
    assert progress.table.columns[-1].header == "seconds" and len(seconds) == 2
    assert all(len(s.split(".")[1]) == 2 for s in seconds), seconds
