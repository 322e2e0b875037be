"""The NaN guard: which batch it names, and when it reads the check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from minitrain.callbacks import DivergenceCallback
from minitrain.errors import DivergedError

NAN_AT = 2  # the third batch


def losses_through(guard: DivergenceCallback, values: list[float]) -> tuple[int | None, str]:
    """Feeds one pass of `values` as batch losses; the batch index at which the guard raised and its message."""
    learn = SimpleNamespace(opt=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5), training=True,
                            epoch=1, dl=range(len(values)))
    guard.before_epoch(learn)
    try:
        for i, value in enumerate(values):
            learn.iter, learn.loss = i, torch.tensor(value)
            guard.after_loss(learn)
        guard.after_epoch(learn)
    except DivergedError as e:
        return learn.iter, str(e)
    return None, ""


def test_on_the_cpu_the_bad_batch_is_caught_before_its_backward():
    raised_at, message = losses_through(DivergenceCallback(), [1.0, 0.9, float("nan"), 0.8])
    assert raised_at == NAN_AT
    assert "epoch 2, batch 3 of 4 (training)" in message and "optimizer.lr=0.05" in message
    assert "checkpoint of epoch 1" in message


def test_a_deferred_check_is_read_a_batch_later_but_names_the_batch_where_the_loss_went_bad():
    raised_at, message = losses_through(DivergenceCallback(defer=True), [1.0, 0.9, float("inf"), 0.8])
    assert raised_at == NAN_AT + 1  # no wait for the device in the batch itself
    assert "became inf in epoch 2, batch 3 of 4" in message


def test_a_deferred_check_of_the_last_batch_is_read_when_the_pass_ends():
    raised_at, message = losses_through(DivergenceCallback(defer=True), [1.0, 0.9, float("nan")])
    assert raised_at == 2 and "batch 3 of 3" in message


@pytest.mark.parametrize("defer", [False, True])
def test_finite_losses_pass(defer):
    assert losses_through(DivergenceCallback(defer=defer), [1.0, 1e30, 0.0]) == (None, "")


def validated(guard: DivergenceCallback, accuracies: list[float], caplog) -> list[str]:
    """Runs the guard's end of each validation pass over epochs with these accuracies; the warnings it logged."""
    learn = SimpleNamespace(opt=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.4), training=False,
                            history=[])
    guard.before_fit(learn)
    with caplog.at_level("WARNING", logger="minitrain.callbacks.divergence"):
        for epoch, accuracy in enumerate(accuracies, start=1):
            learn.history.append({"epoch": epoch, "valid_loss": 1.0, "valid_accuracy": accuracy})
            guard.before_epoch(learn)
            guard.after_epoch(learn)
    return [r.getMessage() for r in caplog.records]


def test_a_collapse_to_chance_without_a_nan_is_named_once(caplog):
    # the lesson's SGD at lr 0.4, measured on 2026-12-05
    warnings = validated(DivergenceCallback(), [0.7535, 0.8207, 0.8428, 0.8496, 0.1000, 0.1000], caplog)
    assert len(warnings) == 1
    assert "fell from 84.96% (epoch 4) to 10.00% in epoch 5" in warnings[0] and "it is 0.4 now" in warnings[0]


@pytest.mark.parametrize("accuracies", [[0.85, 0.80, 0.86], [0.20, 0.11], [0.9], [0.5, 0.26]])
def test_an_ordinary_dip_or_a_slow_start_is_not_a_collapse(accuracies, caplog):
    assert validated(DivergenceCallback(), accuracies, caplog) == []


def test_an_autoencoders_history_has_no_accuracy_to_watch(caplog):
    learn = SimpleNamespace(opt=None, training=False, history=[{"epoch": 1, "valid_loss": 0.1}, {"epoch": 2, "valid_loss": 9.0}])
    guard = DivergenceCallback()
    guard.before_fit(learn)
    guard.before_epoch(learn)
    guard.after_epoch(learn)
    assert not caplog.records
