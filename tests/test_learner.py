"""The Learner's contract: the order of events, the three cancel exceptions, cleanup on failure,
and what training and validation do to the model."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.learner import (
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    DataLoaders,
    Learner,
)

EVENTS = [
    f"{when}_{what}"
    for what in ("fit", "epoch", "batch", "predict", "loss", "backward", "step")
    for when in ("before", "after", "cleanup")
    if when != "cleanup" or what in ("fit", "epoch", "batch")
]

TRAIN_BATCH = [
    "before_batch", "before_predict", "after_predict", "before_loss", "after_loss",
    "before_backward", "after_backward", "before_step", "after_step", "after_batch", "cleanup_batch",
]
VALID_BATCH = [
    "before_batch", "before_predict", "after_predict", "before_loss", "after_loss", "after_batch", "cleanup_batch",
]


class Recorder(Callback):
    """Records (event, training, batch index) for every event the Learner fires."""

    def __init__(self, order: int = 0) -> None:
        self.order = order
        self.calls: list[tuple[str, bool, int | None]] = []

    @property
    def events(self) -> list[str]:
        return [event for event, _, _ in self.calls]


def _recording(event: str):
    def record(self, learn) -> None:
        self.calls.append((event, learn.training, getattr(learn, "iter", None)))

    return record


for _event in EVENTS:
    setattr(Recorder, _event, _recording(_event))


class RaiseAt(Callback):
    """Raises `exception` at `event` when training is `training` and the batch index is `iteration`."""

    order = 10  # after the Recorder, so the event itself is recorded

    def __init__(self, event: str, exception: BaseException, training: bool = True, iteration: int | None = 0,
                 epoch: int = 0) -> None:
        self.exception, self.training, self.iteration, self.epoch = exception, training, iteration, epoch
        setattr(self, event, self.maybe_raise)

    def maybe_raise(self, learn) -> None:
        at_batch = self.iteration is None or getattr(learn, "iter", None) == self.iteration
        if learn.training == self.training and learn.epoch == self.epoch and at_batch:
            raise self.exception


def batches(sizes: list[int], seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in sizes]


def make_learner(callbacks=(), train_sizes=(4, 4), valid_sizes=(4,)) -> Learner:
    torch.manual_seed(0)
    dls = DataLoaders(train=batches(list(train_sizes), seed=1), valid=batches(list(valid_sizes), seed=2))
    return Learner(nn.Linear(4, 3), dls, F.cross_entropy, 0.5, callbacks)


def epoch_events(n_train: int, n_valid: int) -> list[str]:
    return [
        "before_epoch", *TRAIN_BATCH * n_train, "after_epoch", "cleanup_epoch",
        "before_epoch", *VALID_BATCH * n_valid, "after_epoch", "cleanup_epoch",
    ]


def test_fit_fires_every_event_in_order_and_validation_has_no_backward_or_step():
    rec = Recorder()
    make_learner([rec]).fit(1)
    assert rec.events == ["before_fit", *epoch_events(2, 1), "after_fit", "cleanup_fit"]


def test_each_epoch_is_a_training_pass_then_a_validation_pass():
    rec = Recorder()
    make_learner([rec], train_sizes=(4,), valid_sizes=(4, 2)).fit(2)
    assert rec.events == ["before_fit", *epoch_events(1, 2) * 2, "after_fit", "cleanup_fit"]
    passes = [training for event, training, _ in rec.calls if event == "before_epoch"]
    assert passes == [True, False, True, False]


def test_learner_exposes_epoch_and_n_epochs_to_callbacks():
    seen = []

    class Watch(Callback):
        def before_epoch(self, learn):
            seen.append((learn.epoch, learn.n_epochs, learn.training))

    make_learner([Watch()]).fit(2)
    assert seen == [(0, 2, True), (0, 2, False), (1, 2, True), (1, 2, False)]


def test_callbacks_run_in_ascending_order_and_ties_keep_the_given_order_also_when_appended_to_learn_cbs():
    calls = []

    class Named(Callback):
        def __init__(self, name, order):
            self.name, self.order = name, order

        def before_fit(self, learn):
            calls.append(self.name)

    given = [Named("a", 5), Named("b", -1), Named("c", 5), Named("d", 0), Named("e", -1)]
    learn = make_learner(given)
    learn.cbs.append(Named("f", -9))  # as the course adds callbacks: to the live list
    learn.fit(1)
    assert calls == ["f", "b", "e", "d", "a", "c"]
    assert [cb.name for cb in learn.cbs] == ["f", "b", "e", "d", "a", "c"]  # learn.cbs is sorted in place at each fit


def test_cancel_batch_skips_the_rest_of_that_batch_but_cleans_up_and_training_goes_on():
    rec = Recorder()
    make_learner([rec, RaiseAt("after_loss", CancelBatchException(), iteration=0)]).fit(1)
    cancelled = ["before_batch", "before_predict", "after_predict", "before_loss", "after_loss", "cleanup_batch"]
    assert rec.events == [
        "before_fit",
        "before_epoch", *cancelled, *TRAIN_BATCH, "after_epoch", "cleanup_epoch",
        "before_epoch", *VALID_BATCH, "after_epoch", "cleanup_epoch",
        "after_fit", "cleanup_fit",
    ]


def test_cancel_batch_before_step_leaves_the_weights_alone():
    learn = make_learner([RaiseAt("before_step", CancelBatchException(), iteration=None)])
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1)
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


def test_cancel_epoch_ends_the_training_pass_and_validation_still_runs():
    rec = Recorder()
    make_learner([rec, RaiseAt("before_batch", CancelEpochException(), iteration=1)], train_sizes=(4, 4, 4)).fit(1)
    assert rec.events == [
        "before_fit",
        "before_epoch", *TRAIN_BATCH, "before_batch", "cleanup_batch", "cleanup_epoch",  # no 3rd batch, no after_epoch
        "before_epoch", *VALID_BATCH, "after_epoch", "cleanup_epoch",
        "after_fit", "cleanup_fit",
    ]


def test_cancel_fit_ends_training_skips_after_fit_and_runs_cleanup_fit():
    rec = Recorder()
    make_learner([rec, RaiseAt("after_epoch", CancelFitException(), iteration=None)]).fit(3)  # does not raise
    assert rec.events == [
        "before_fit",
        "before_epoch", *TRAIN_BATCH * 2, "after_epoch", "cleanup_epoch",  # no validation pass, no second epoch
        "cleanup_fit",
    ]


@pytest.mark.parametrize(
    "event, exception, iteration",
    [("after_loss", CancelBatchException(), 0), ("before_batch", CancelEpochException(), 1),
     ("after_epoch", CancelFitException(), None)],
    ids=["batch", "epoch", "fit"],
)
def test_a_cancelled_batch_epoch_or_fit_is_not_kept_as_the_exception_that_ended_the_fit(event, exception, iteration):
    # learn.exception tells cleanup callbacks (SummaryCallback) that a run failed; a cancel is control flow.
    learn = make_learner([RaiseAt(event, exception, iteration=iteration)])
    learn.fit(1)
    assert learn.exception is None


def test_an_unexpected_exception_propagates_after_every_cleanup_runs_and_is_kept_on_the_learner():
    rec = Recorder()
    boom = ValueError("boom")
    learn = make_learner([rec, RaiseAt("after_loss", boom, iteration=1)])
    with pytest.raises(ValueError, match="boom"):
        learn.fit(2)
    assert learn.exception is boom
    assert rec.events[-4:] == ["after_loss", "cleanup_batch", "cleanup_epoch", "cleanup_fit"]
    assert "after_fit" not in rec.events and "after_epoch" not in rec.events


def test_an_exception_in_before_fit_still_runs_cleanup_fit():
    rec = Recorder()
    # before any pass, learn.training is the model's own mode: a freshly built module's is True
    learn = make_learner([rec, RaiseAt("before_fit", RuntimeError("early"), training=True, iteration=None)])
    with pytest.raises(RuntimeError):
        learn.fit(1)
    assert rec.events == ["before_fit", "cleanup_fit"]
    assert isinstance(learn.exception, RuntimeError)


def test_validation_runs_without_gradients_and_in_eval_mode():
    modes = []

    class Watch(Callback):
        def before_predict(self, learn):
            modes.append((learn.training, torch.is_grad_enabled(), learn.model.training))

    make_learner([Watch()]).fit(1)
    assert set(modes) == {(True, True, True), (False, False, False)}


def test_training_changes_the_weights_and_validation_does_not():
    snapshots = {}

    class Snap(Callback):
        def before_epoch(self, learn):
            snapshots[("before", learn.training)] = [p.detach().clone() for p in learn.model.parameters()]

        def after_epoch(self, learn):
            snapshots[("after", learn.training)] = [p.detach().clone() for p in learn.model.parameters()]

    make_learner([Snap()]).fit(1)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a, b))  # noqa: E731
    assert not same(snapshots[("before", True)], snapshots[("after", True)])
    assert same(snapshots[("before", False)], snapshots[("after", False)])


def test_gradients_are_cleared_after_each_step():
    grads = []

    class Watch(Callback):
        def before_backward(self, learn):
            grads.append([p.grad for p in learn.model.parameters()])

    make_learner([Watch()]).fit(1)
    assert len(grads) == 2
    assert all(g is None for batch in grads for g in batch)


def test_callbacks_read_predictions_and_loss_of_the_current_batch():
    seen = []

    class Watch(Callback):
        def after_loss(self, learn):
            x, y = learn.batch
            seen.append((learn.preds.shape, learn.loss.item(), F.cross_entropy(learn.preds, y).item()))

    make_learner([Watch()], train_sizes=(4, 2), valid_sizes=(3,)).fit(1)
    assert [shape for shape, _, _ in seen] == [torch.Size([4, 3]), torch.Size([2, 3]), torch.Size([3, 3])]
    assert all(loss == pytest.approx(expected) for _, loss, expected in seen)


def test_a_callback_that_replaces_the_batch_changes_what_the_model_sees():
    class ZeroInputs(Callback):
        def before_batch(self, learn):
            x, y = learn.batch
            learn.batch = (x * 0, y)

    preds = []

    class Watch(Callback):
        order = 1

        def after_predict(self, learn):
            preds.append(learn.preds.detach().clone())

    learn = make_learner([ZeroInputs(), Watch()], train_sizes=(4,), valid_sizes=(4,))
    learn.fit(1)
    # a zero input gives every row the same output: the bias
    assert torch.allclose(preds[-1], learn.model.bias.detach().expand(4, 3))


def test_every_fit_builds_a_fresh_optimizer_from_opt_func():
    learn = make_learner()
    learn.fit(1)
    opt = learn.opt
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["lr"] == 0.5
    learn.fit(1)
    assert learn.opt is not opt and isinstance(learn.opt, torch.optim.SGD) and learn.opt.param_groups[0]["lr"] == 0.5


def test_after_step_sees_the_weights_the_step_updated_and_before_step_the_old_ones():
    changed = []

    class Watch(Callback):
        def before_step(self, learn):
            self.old = [p.detach().clone() for p in learn.model.parameters()]
            self.grads = [p.grad.detach().clone() for p in learn.model.parameters()]

        def after_step(self, learn):
            new = list(learn.model.parameters())
            # plain SGD at lr 0.5: each weight moved by exactly -lr x its gradient
            changed.append(all(torch.allclose(n, o - 0.5 * g) for n, o, g in zip(new, self.old, self.grads)))

    make_learner([Watch()]).fit(1)
    assert changed == [True, True]


def test_a_callback_step_runs_between_the_step_events_instead_of_the_learners():
    order = []

    class OwnStep(Callback):
        def before_step(self, learn):
            order.append("before_step")

        def step(self, learn):
            order.append("step")

        def after_step(self, learn):
            order.append("after_step")

    learn = make_learner([OwnStep()])
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(1)
    assert order == ["before_step", "step", "after_step"] * 2
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))  # the optimizer never stepped


def test_a_subclass_step_wins_over_a_callback_that_defines_that_step():
    calls = []

    class Counting(Learner):
        def predict(self):
            calls.append("subclass")
            super().predict()

    class Predict(Callback):
        def predict(self, learn):
            calls.append("callback")
            learn.preds = learn.model(learn.batch[0])

    dls = DataLoaders(train=batches([4]), valid=batches([4]))
    Counting(nn.Linear(4, 3), dls, F.cross_entropy).fit(1)
    assert calls == ["subclass", "subclass"]
    calls.clear()
    Counting(nn.Linear(4, 3), dls, F.cross_entropy, cbs=[Predict()]).fit(1)
    assert calls == ["subclass", "subclass"]  # the callback takes a step only where the Learner's is the base one
    calls.clear()
    Learner(nn.Linear(4, 3), dls, F.cross_entropy, cbs=[Predict()]).fit(1)
    assert calls == ["callback", "callback"]


def test_order_constants_put_the_checkpoint_restore_after_the_schedule_and_before_the_reporters():
    from minitrain.learner import Order

    assert Order.DEVICE < Order.AUGMENT < Order.METRICS < Order.DIVERGENCE < Order.RECIPE < Order.CHECKPOINT
    assert Order.CHECKPOINT < Order.PROGRESS < Order.PLOTS < Order.IMAGES < Order.SUMMARY
    # metrics.csv is written before the checkpoint is saved: a save that fails still leaves the epoch's row
    assert Order.DIVERGENCE < Order.CSV < Order.CHECKPOINT
