"""Anomaly mode: a NaN made in the backward pass fails at the op that made it, and the mode ends with the fit."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from minitrain.callbacks.anomaly import AnomalyCallback
from minitrain.learner import Learner
from conftest import toy_fit


class NaNGrad(torch.autograd.Function):
    """The identity forward; a NaN gradient backward (a bug that anomaly mode is for)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


class Broken(nn.Linear):
    def forward(self, x):
        return NaNGrad.apply(super().forward(x))


def fit(*callbacks) -> Learner:
    return toy_fit(*callbacks, model=Broken(4, 3), train_sizes=(4,), task=None)


def test_anomaly_mode_fails_at_the_backward_op_that_returned_nan():
    with pytest.raises(RuntimeError, match="NaNGradBackward.* returned nan values"):
        fit(AnomalyCallback())
    assert not torch.is_anomaly_enabled()  # turned off again although the fit failed


def test_without_anomaly_mode_the_nan_passes_silently():
    fit()
