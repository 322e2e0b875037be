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
