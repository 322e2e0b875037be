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
