"""Metrics (Mean, Accuracy, PSNR) and the MetricsCallback that turns them into one history row per epoch."""

from __future__ import annotations

import math
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import MetricsCallback
from minitrain.learner import DataLoaders, Learner
from minitrain.metrics import PSNR, Accuracy, Mean
from conftest import toy_fit


def test_mean_weights_each_batch_by_its_size():
    mean = Mean()
    mean.add(torch.tensor(1.0), 3)
    mean.add(torch.tensor(5.0), 1)
    assert mean.value == pytest.approx(2.0)  # (3*1 + 1*5) / 4, not (1 + 5) / 2


def test_mean_of_nothing_is_nan_and_reset_forgets_what_was_added():
    mean = Mean()
    assert math.isnan(mean.value)
    mean.add(torch.tensor(7.0), 2)
    mean.reset()
    assert math.isnan(mean.value)
    mean.add(torch.tensor(3.0), 1)
    assert mean.value == pytest.approx(3.0)


def test_mean_does_not_keep_the_autograd_graph():
    w = torch.tensor(2.0, requires_grad=True)
    mean = Mean()
    mean.add(w * 3, 4)
    assert not torch.as_tensor(mean.total).requires_grad


def test_accuracy_is_the_fraction_whose_top_score_is_the_target_across_batches():
    acc = Accuracy()
    acc.add(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]), torch.tensor([0, 0, 0]))  # 2 of 3
    acc.add(torch.tensor([[0.1, 0.9]]), torch.tensor([1]))  # 1 of 1
    assert acc.value == pytest.approx(3 / 4)


def test_accuracy_reset_starts_over():
    acc = Accuracy()
    acc.add(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    acc.reset()
    assert math.isnan(acc.value)
    acc.add(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert acc.value == 1.0


def test_psnr_is_ten_log10_of_one_over_the_mean_squared_error_averaged_per_image():
    psnr = PSNR()
    targets = torch.zeros(2, 1, 4, 4)
    preds = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])  # MSE 1e-2 -> 20 dB, 1e-4 -> 40 dB
    psnr.add(preds, targets)
    assert psnr.value == pytest.approx(30.0, abs=1e-3)
    psnr.reset()
    assert math.isnan(psnr.value)


def _fit_with_metrics(n_epochs: int, train_sizes=(3, 1), valid_sizes=(3, 1)) -> Learner:
    return toy_fit(MetricsCallback({"accuracy": Accuracy}), epochs=n_epochs, train_sizes=train_sizes,
                   valid_sizes=valid_sizes, task=None)


def test_metrics_callback_appends_one_row_per_epoch_numbered_from_one():
    learn = _fit_with_metrics(3)
    assert [row["epoch"] for row in learn.history] == [1, 2, 3]
    assert all(list(row) == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"] for row in learn.history)
    assert all(row["seconds"] >= 0 for row in learn.history)


def test_metrics_callback_reports_the_size_weighted_validation_loss_and_accuracy_of_the_model():
    learn = _fit_with_metrics(2)
    x = torch.cat([b[0] for b in learn.dls.valid])
    y = torch.cat([b[1] for b in learn.dls.valid])
    with torch.no_grad():
        preds = learn.model(x)
    last = learn.history[-1]
    assert last["valid_loss"] == pytest.approx(F.cross_entropy(preds, y).item(), rel=1e-5)
    assert last["valid_accuracy"] == pytest.approx((preds.argmax(1) == y).float().mean().item())
    assert isinstance(last["train_loss"], float) and isinstance(last["valid_loss"], float)


def test_metrics_callback_train_loss_averages_only_the_training_batches_of_that_epoch():
    losses = []

    class Watch:
        order = 0

        def after_loss(self, learn):
            if learn.training:
                losses.append((learn.loss.item(), len(learn.batch[0])))

    g = torch.Generator().manual_seed(0)
    train = [(torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in (3, 1)]
    valid = [(torch.randn(2, 4, generator=g), torch.randint(0, 3, (2,), generator=g))]
    learn = Learner(nn.Linear(4, 3), DataLoaders(train, valid), F.cross_entropy, 0.1,
                    [MetricsCallback({"accuracy": Accuracy}), Watch()])
    learn.fit(2)
    for epoch, row in enumerate(learn.history):
        batch_losses = losses[2 * epoch : 2 * epoch + 2]
        expected = sum(loss * n for loss, n in batch_losses) / sum(n for _, n in batch_losses)
        assert row["train_loss"] == pytest.approx(expected, rel=1e-5)
