"""What each task trains with: the loss, and label smoothing for classifiers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from minitrain.tasks import TASKS, build_loss

LOGITS = torch.tensor([[4.0, 0.0, -2.0], [0.5, 3.0, 0.0]])
TARGETS = torch.tensor([0, 1])


def test_without_label_smoothing_the_classification_loss_is_plain_cross_entropy():
    assert build_loss(TASKS["classification"]) is F.cross_entropy
    assert build_loss(TASKS["classification"], 0.0)(LOGITS, TARGETS) == F.cross_entropy(LOGITS, TARGETS)


def test_label_smoothing_changes_the_loss_to_cross_entropy_against_smoothed_targets():
    plain = F.cross_entropy(LOGITS, TARGETS)
    smoothed = build_loss(TASKS["classification"], 0.3)(LOGITS, TARGETS)
    assert smoothed > plain  # confident right answers cost more
    soft = F.one_hot(TARGETS, 3) * 0.7 + 0.3 / 3
    assert smoothed.item() == pytest.approx(-(soft * LOGITS.log_softmax(dim=1)).sum(dim=1).mean().item())


def test_each_task_names_its_history_columns_once_and_the_sweep_report_takes_them_from_there():
    from minitrain.reports.sweep import METRIC_COLUMNS

    assert TASKS["classification"].columns == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]
    assert TASKS["reconstruction"].columns == ["epoch", "train_loss", "valid_loss", "valid_psnr", "seconds"]
    assert all(set(task.columns) <= set(METRIC_COLUMNS) for task in TASKS.values())
    assert METRIC_COLUMNS[-1] == "seconds"


def test_the_best_epoch_follows_the_tasks_rule():
    history = [{"epoch": 1, "valid_accuracy": 0.5, "valid_loss": 0.9}, {"epoch": 2, "valid_accuracy": 0.7, "valid_loss": 1.0},
               {"epoch": 3, "valid_accuracy": 0.7, "valid_loss": 0.8}]
    assert TASKS["classification"].best_row(history)["epoch"] == 2  # highest accuracy, the first of equals
    assert TASKS["reconstruction"].best_row(history)["epoch"] == 3  # lowest loss
