"""Anomaly mode: a NaN made in the backward pass fails at the op that made it, and the mode ends with the fit."""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks.anomaly import AnomalyCallback
from minitrain.learner import DataLoaders, Learner


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
    batches = [(torch.randn(4, 4), torch.randint(0, 3, (4,)))]
    learn = Learner(Broken(4, 3), DataLoaders(batches, batches), F.cross_entropy, 0.1,
                    list(callbacks))
    learn.fit(1)
    return learn


def test_anomaly_mode_fails_at_the_backward_op_that_returned_nan():
    with pytest.raises(RuntimeError, match="NaNGradBackward.* returned nan values"):
        fit(AnomalyCallback())
    assert not torch.is_anomaly_enabled()  # turned off again although the fit failed


def test_without_anomaly_mode_the_nan_passes_silently():
    fit()
