"""The Learner used exactly as a student of the fast.ai course (2022, part 2) uses the course's miniai Learner:
positional `Learner(model, dls, loss_func, lr, cbs, opt_func)`, the training steps kept in a callback, a
single-batch check, a momentum subclass, the LR finder, callbacks for one fit and a validation-only fit.
Tiny in-memory data, and code written for these tests."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim

from minitrain.callbacks import MetricsCallback
from minitrain.learner import Callback, CancelFitException, Learner
from minitrain.metrics import Accuracy


def toy_dls(n: int = 96, bs: int = 16) -> SimpleNamespace:
    """Two-class points (is x0 above x1?) as lists of batches: any object with .train and .valid will do."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] > x[:, 1]).long()
    batches = [(x[i : i + bs], y[i : i + bs]) for i in range(0, n, bs)]
    return SimpleNamespace(train=batches, valid=batches[:2])


def toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


def weights(learn: Learner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in learn.model.parameters()]


class TrainSteps(Callback):
    """The five training steps, in a callback (the course's TrainCB)."""

    def predict(self, learn):
        learn.preds = learn.model(learn.batch[0])

    def get_loss(self, learn):
        learn.loss = learn.loss_func(learn.preds, learn.batch[1])

    def backward(self, learn):
        learn.loss.backward()

    def step(self, learn):
        learn.opt.step()

    def zero_grad(self, learn):
        learn.opt.zero_grad()


class ZeroLoss(Callback):
    """Takes over get_loss only, with a loss that teaches nothing."""

    def get_loss(self, learn):
        learn.loss = learn.loss_func(learn.preds, learn.batch[1]) * 0


class OneBatch(Callback):
    """Stops the fit after one batch (the course's SingleBatchCB): a quick check that everything runs."""

    order = 1

    def after_batch(self, learn):
        raise CancelFitException()


class Losses(Callback):
    """Records (training, loss) for every batch."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, float]] = []

    def after_loss(self, learn):
        self.seen.append((learn.training, learn.loss.item()))

    def mean(self, training: bool, last: int = 6) -> float:
        values = [loss for t, loss in self.seen if t == training][-last:]
        return sum(values) / len(values)


class MomentumLearner(Learner):
    """The course's subclass: gradients decay by `mom` instead of being zeroed, arguments passed on positionally."""

    def __init__(self, model, dls, loss_func, lr=None, cbs=None, opt_func=optim.SGD, mom=0.85):
        self.mom = mom
        super().__init__(model, dls, loss_func, lr, cbs, opt_func)

    def zero_grad(self):
        with torch.no_grad():
            for p in self.model.parameters():
                p.grad *= self.mom


def test_positional_model_dls_loss_lr_cbs_opt_func_train_the_model():
    losses = Losses()
    learn = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.2, [losses], optim.SGD)
    learn.fit(3)
    assert isinstance(learn.opt, optim.SGD) and learn.opt.param_groups[0]["lr"] == 0.2
    assert losses.mean(training=True) < 0.7 * losses.seen[0][1]


def test_anything_after_opt_func_is_keyword_only():
    with pytest.raises(TypeError):
        Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, [], optim.SGD, "runs/x")


def test_steps_kept_in_a_callback_train_exactly_as_the_learners_own():
    plain = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1)
    plain.fit(2)
    in_callback = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, [TrainSteps()])
    in_callback.fit(2)
    assert all(torch.equal(a, b) for a, b in zip(weights(plain), weights(in_callback)))


def test_a_callback_that_defines_a_step_takes_it_over():
    learn = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.5, [ZeroLoss()])
    before = weights(learn)
    learn.fit(1)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(learn)))  # a zero loss moves nothing


def test_a_single_batch_callback_stops_the_fit_after_one_training_batch():
    losses = Losses()
    Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, [losses, OneBatch()]).fit(5)
    assert [training for training, _ in losses.seen] == [True]


def test_a_momentum_subclass_takes_over_zero_grad_and_keeps_decayed_gradients():
    losses = Losses()
    learn = MomentumLearner(toy_model(), toy_dls(), F.cross_entropy, 0.05, [losses])
    learn.fit(3)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learn.model.parameters())
    assert losses.mean(training=True) < 0.7 * losses.seen[0][1]


def test_callbacks_given_to_fit_join_for_that_call_only():
    losses, once = Losses(), Losses()
    learn = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, [losses])
    learn.fit(1, cbs=[once])
    learn.fit(1)
    assert learn.cbs == [losses]
    assert len(once.seen) == len(losses.seen) // 2


def test_fit_with_lr_builds_a_fresh_optimizer_at_that_rate():
    learn = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, opt_func=optim.AdamW)
    learn.fit(1)
    first = learn.opt
    learn.fit(1, lr=0.003)
    assert learn.opt is not first and isinstance(learn.opt, optim.AdamW) and learn.opt.param_groups[0]["lr"] == 0.003


def test_a_validation_only_fit_measures_without_training():
    losses, metrics = Losses(), MetricsCallback({"accuracy": Accuracy})
    learn = Learner(toy_model(), toy_dls(), F.cross_entropy, 0.1, [losses, metrics])
    before = weights(learn)
    learn.fit(1, train=False)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(learn)))
    assert {training for training, _ in losses.seen} == {False}
    assert 0 <= learn.history[-1]["valid_accuracy"] <= 1


@pytest.mark.parametrize("make", [
    lambda: MomentumLearner(toy_model(), toy_dls(n=1600), F.cross_entropy, cbs=[]),
    lambda: Learner(toy_model(), toy_dls(n=1600), F.cross_entropy, opt_func=optim.AdamW),
], ids=["momentum-sgd", "adamw"])
def test_lr_find_is_a_method_that_suggests_a_rate_that_trains(make):
    learn = make()
    result = learn.lr_find()
    assert learn.cbs == []  # the finder joined for its own fit only
    assert 1e-4 < result["suggested_lr"] < result["lrs"][-1]
    fresh = make()
    losses = Losses()
    fresh.fit(1, cbs=[losses], lr=result["suggested_lr"])
    assert math.isfinite(losses.mean(training=True)) and losses.mean(training=True) < 0.8 * losses.seen[0][1]
