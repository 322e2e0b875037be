"""The fast.ai course's (2022, part 2) lessons 09-12, run against minitrain's Learner unchanged: their callbacks
(TrainCB, DeviceCB, MetricsCB with torcheval, ProgressCB with fastprogress, SingleBatchCB, BatchSchedCB and
RecorderCB, BatchTransformCB, HooksCallback and ActivationStats), their Learner subclasses (TrainLearner,
MomentumLearner), the course's lr_find and capture_preds. Each is written here the way a lesson writes it, for
these tests, over the small synthetic images of conftest.py (a bright block whose place says the class)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from copy import copy
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.optim import lr_scheduler
from torch.utils.data import DataLoader, TensorDataset

import fastcore.all as fc  # the three are in the `test` extra (pyproject.toml)
import fastprogress
from fastprogress import master_bar, progress_bar
from torcheval.metrics import Mean, MulticlassAccuracy

from minitrain.learner import Callback, CancelEpochException, CancelFitException, DataLoaders, Learner

BS = 50


# The lessons' helpers and callbacks --------------------------------------------------------------------------


def to_device(x, device="cpu"):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: v.to(device) for k, v in x.items()}
    return type(x)(to_device(o, device) for o in x)


def to_cpu(x):
    if isinstance(x, Mapping):
        return {k: to_cpu(v) for k, v in x.items()}
    if isinstance(x, list):
        return [to_cpu(o) for o in x]
    if isinstance(x, tuple):
        return tuple(to_cpu(list(x)))
    return x.detach().cpu()


class TrainCB(Callback):
    def __init__(self, n_inp=1):
        self.n_inp = n_inp

    def predict(self, learn): learn.preds = learn.model(*learn.batch[:self.n_inp])
    def get_loss(self, learn): learn.loss = learn.loss_func(learn.preds, *learn.batch[self.n_inp:])
    def backward(self, learn): learn.loss.backward()
    def step(self, learn): learn.opt.step()
    def zero_grad(self, learn): learn.opt.zero_grad()


class DeviceCB(Callback):
    def __init__(self, device="cpu"):
        fc.store_attr()

    def before_fit(self, learn):
        if hasattr(learn.model, "to"):
            learn.model.to(self.device)

    def before_batch(self, learn): learn.batch = to_device(learn.batch, device=self.device)


class MetricsCB(Callback):
    def __init__(self, *ms, **metrics):
        for o in ms:
            metrics[type(o).__name__] = o
        self.metrics = metrics
        self.all_metrics = copy(metrics)
        self.all_metrics["loss"] = self.loss = Mean()
        self.logged = []

    def _log(self, d):
        self.logged.append(d)

    def before_fit(self, learn): learn.metrics = self
    def before_epoch(self, learn): [o.reset() for o in self.all_metrics.values()]

    def after_epoch(self, learn):
        log = {k: f"{v.compute():.3f}" for k, v in self.all_metrics.items()}
        log["epoch"] = learn.epoch
        log["train"] = "train" if learn.model.training else "eval"
        self._log(log)

    def after_batch(self, learn):
        x, y, *_ = to_cpu(learn.batch)
        for m in self.metrics.values():
            m.update(to_cpu(learn.preds), y)
        self.loss.update(to_cpu(learn.loss), weight=len(x))


class ProgressCB(Callback):
    order = MetricsCB.order + 1

    def __init__(self, plot=False):
        self.plot = plot

    def before_fit(self, learn):
        learn.epochs = self.mbar = master_bar(learn.epochs)
        self.first = True
        if hasattr(learn, "metrics"):
            learn.metrics._log = self._log
        self.losses, self.rows = [], []

    def _log(self, d):
        if self.first:
            self.mbar.write(list(d), table=True)
            self.first = False
        self.mbar.write([str(v) for v in d.values()], table=True)  # str: the console bar (not a notebook's) needs it
        self.rows.append(d)

    def before_epoch(self, learn): learn.dl = progress_bar(learn.dl, leave=False, parent=self.mbar)

    def after_batch(self, learn):
        learn.dl.comment = f"{learn.loss:.3f}"
        if learn.training:
            self.losses.append(learn.loss.item())


class SingleBatchCB(Callback):
    order = 1

    def after_batch(self, learn): raise CancelFitException()


class TrainLearner(Learner):
    def predict(self): self.preds = self.model(self.batch[0])
    def get_loss(self): self.loss = self.loss_func(self.preds, self.batch[1])
    def backward(self): self.loss.backward()
    def step(self): self.opt.step()
    def zero_grad(self): self.opt.zero_grad()


class MomentumLearner(TrainLearner):
    def __init__(self, model, dls, loss_func, lr=None, cbs=None, opt_func=optim.SGD, mom=0.85):
        self.mom = mom
        super().__init__(model, dls, loss_func, lr, cbs, opt_func)

    def zero_grad(self):
        with torch.no_grad():
            for p in self.model.parameters():
                p.grad *= self.mom


class BaseSchedCB(Callback):
    def __init__(self, sched): self.sched = sched
    def before_fit(self, learn): self.schedo = self.sched(learn.opt)

    def _step(self, learn):
        if learn.training:
            self.schedo.step()


class BatchSchedCB(BaseSchedCB):
    def after_batch(self, learn): self._step(learn)


class RecorderCB(Callback):
    def __init__(self, **d): self.d = d

    def before_fit(self, learn):
        self.recs = {k: [] for k in self.d}
        self.pg = learn.opt.param_groups[0]

    def after_batch(self, learn):
        if not learn.training:
            return
        for k, v in self.d.items():
            self.recs[k].append(v(self))


def _lr(cb): return cb.pg["lr"]
def _beta1(cb): return cb.pg["betas"][0]


class BatchTransformCB(Callback):
    def __init__(self, tfm, on_train=True, on_val=True): fc.store_attr()

    def before_batch(self, learn):
        if (self.on_train and learn.training) or (self.on_val and not learn.training):
            learn.batch = self.tfm(learn.batch)


class Hook:
    def __init__(self, m, f): self.hook = m.register_forward_hook(partial(f, self))
    def remove(self): self.hook.remove()
    def __del__(self): self.remove()


class Hooks(list):
    def __init__(self, ms, f): super().__init__([Hook(m, f) for m in ms])
    def __enter__(self, *args): return self
    def __exit__(self, *args): self.remove()
    def __del__(self): self.remove()

    def remove(self):
        for h in self:
            h.remove()


class HooksCallback(Callback):
    def __init__(self, hookfunc, mod_filter=fc.noop, on_train=True, on_valid=False, mods=None):
        fc.store_attr()
        super().__init__()

    def before_fit(self, learn):
        mods = self.mods or fc.filter_ex(learn.model.modules(), self.mod_filter)
        self.hooks = Hooks(mods, partial(self._hookfunc, learn))

    def _hookfunc(self, learn, *args, **kwargs):
        if (self.on_train and learn.training) or (self.on_valid and not learn.training):
            self.hookfunc(*args, **kwargs)

    def after_fit(self, learn): self.hooks.remove()
    def __iter__(self): return iter(self.hooks)
    def __len__(self): return len(self.hooks)


def append_stats(hook, mod, inp, outp):
    if not hasattr(hook, "stats"):
        hook.stats = ([], [], [])
    acts = to_cpu(outp)
    hook.stats[0].append(acts.mean())
    hook.stats[1].append(acts.std())
    hook.stats[2].append(acts.abs().histc(40, 0, 10))


def get_hist(h): return torch.stack(h.stats[2]).t().float().log1p()


def get_min(h):
    h1 = torch.stack(h.stats[2]).t().float()
    return h1[0] / h1.sum(0)


class ActivationStats(HooksCallback):
    def __init__(self, mod_filter=fc.noop): super().__init__(append_stats, mod_filter)


class CapturePreds(Callback):
    def before_fit(self, learn): self.all_inps, self.all_preds, self.all_targs = [], [], []

    def after_batch(self, learn):
        self.all_inps.append(to_cpu(learn.batch[0]))
        self.all_preds.append(to_cpu(learn.preds))
        self.all_targs.append(to_cpu(learn.batch[1]))

    def after_fit(self, learn):
        self.all_preds, self.all_targs, self.all_inps = map(torch.cat, [self.all_preds, self.all_targs, self.all_inps])


@fc.patch
def capture_preds(self: Learner, cbs=None, inps=False):
    cp = CapturePreds()
    self.fit(1, train=False, cbs=[cp] + fc.L(cbs))
    res = cp.all_preds, cp.all_targs
    if inps:
        res = res + (cp.all_inps,)
    return res


# Data and models ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dls(fakes) -> DataLoaders:
    """The fake images as floats in [0, 1], 1 x 28 x 28, in torch DataLoaders (shuffled training batches)."""
    data = fakes.make_data(n_train=300, n_test=100)
    as_ds = lambda images, labels: TensorDataset(  # noqa: E731
        torch.tensor(images, dtype=torch.float32)[:, None] / 255, torch.tensor(labels))
    train = as_ds(data.train_images, data.train_labels)
    valid = as_ds(data.test_images, data.test_labels)
    return DataLoaders(DataLoader(train, BS, shuffle=True, generator=torch.Generator().manual_seed(0)),
                       DataLoader(valid, BS * 2))


@pytest.fixture(scope="module")
def noisy_dls(dls) -> DataLoaders:
    """The same images with shuffled labels: nothing to learn, so a growing lr ends in an exploding loss."""
    x, y = dls.train.dataset.tensors
    shuffled = TensorDataset(x, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))])
    return DataLoaders(DataLoader(shuffled, 10, shuffle=True, generator=torch.Generator().manual_seed(0)), dls.valid)


def get_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 10))


def conv(ni: int, nf: int, act: bool = True) -> nn.Module:
    layers = [nn.Conv2d(ni, nf, 3, stride=2, padding=1)]
    return nn.Sequential(*layers, nn.ReLU()) if act else layers[0]


def cnn_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(conv(1, 4), conv(4, 8), conv(8, 16), conv(16, 10, act=False), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten())


class Epochs(Callback):
    """Records every epoch the fit runs and every training batch's lr."""

    order = 5

    def before_fit(self, learn): self.seen, self.lrs = [], []

    def before_epoch(self, learn):
        if learn.training:
            self.seen.append(learn.epoch)

    def before_batch(self, learn):
        if learn.training:
            self.lrs.append(learn.opt.param_groups[0]["lr"])


# Lesson 09: the Learner -----------------------------------------------------------------------------------------


def test_progress_cb_wraps_learn_epochs_in_a_master_bar_and_writes_the_metrics_table(dls, capsys):
    metrics, progress, epochs = MetricsCB(accuracy=MulticlassAccuracy()), ProgressCB(plot=True), Epochs()
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.2, cbs=[TrainCB(), DeviceCB(), metrics, progress, epochs])
    learn.fit(2)
    assert isinstance(learn.epochs, fastprogress.fastprogress.MasterBar) and epochs.seen == [0, 1]
    assert [(row["epoch"], row["train"]) for row in progress.rows] == [(0, "train"), (0, "eval"), (1, "train"),
                                                                        (1, "eval")]
    assert len(progress.losses) == 2 * len(dls.train)
    assert "accuracy" in capsys.readouterr().out  # the table's header, written by the master bar


def test_learn_epochs_follow_a_start_epoch_moved_in_before_fit(dls):
    class Resume(Callback):
        order = -1

        def before_fit(self, learn): learn.start_epoch = 2

    epochs = Epochs()
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=[Resume(), epochs])
    learn.fit(4)
    assert epochs.seen == [2, 3] and learn.epochs == range(2, 4)


def test_a_single_callback_is_taken_where_a_list_is(dls):
    epochs = Epochs()
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=DeviceCB())
    learn.fit(1, cbs=epochs)
    assert epochs.seen == [0] and len(learn.cbs) == 1 and isinstance(learn.cbs[0], DeviceCB)
    learn.fit(1, cbs=SingleBatchCB())
    assert len(learn.cbs) == 1


def test_train_cb_owns_the_steps_and_the_model_learns(dls):
    metrics = MetricsCB(accuracy=MulticlassAccuracy())
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.2, cbs=[TrainCB(), DeviceCB(), metrics])
    learn.fit(3)
    last = metrics.logged[-1]
    assert last["train"] == "eval" and float(last["accuracy"]) > 0.5


def test_metrics_cb_logs_torcheval_metrics_and_the_weighted_loss_per_pass(dls):
    metrics = MetricsCB(MulticlassAccuracy())
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.2, cbs=[TrainCB(), metrics])
    learn.fit(1)
    assert [sorted(row) for row in metrics.logged] == [["MulticlassAccuracy", "epoch", "loss", "train"]] * 2
    assert [row["train"] for row in metrics.logged] == ["train", "eval"]
    with torch.no_grad():
        losses = [(F.cross_entropy(learn.model(x), y, reduction="sum").item(), len(x)) for x, y in dls.valid]
    assert float(metrics.logged[-1]["loss"]) == pytest.approx(sum(s for s, _ in losses) / sum(n for _, n in losses),
                                                              abs=2e-3)


def test_device_cb_moves_the_model_and_every_batch_to_its_device(dls):
    seen = []

    class Where(Callback):
        order = 1

        def after_predict(self, learn): seen.append((learn.batch[0].device, learn.preds.device))

    device = "cuda" if torch.cuda.is_available() else "cpu"
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=[DeviceCB(device), Where()])
    learn.fit(1)
    assert next(learn.model.parameters()).device.type == device
    assert {(x.type, p.type) for x, p in seen} == {(device, device)} and len(seen) == len(dls.train) + len(dls.valid)


def test_single_batch_cb_stops_the_fit_after_the_first_batch(dls):
    epochs = Epochs()
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=[SingleBatchCB(), epochs])
    learn.fit(5)
    assert epochs.seen == [0] and len(epochs.lrs) == 1 and learn.iter == 0


def test_learn_training_is_the_models_flag_and_setting_it_sets_the_model(dls):
    learn = Learner(get_model(), dls, F.cross_entropy)
    learn.model.eval()
    assert learn.training is False
    learn.training = True
    assert learn.model.training and all(m.training for m in learn.model.modules())


def test_every_fit_builds_a_fresh_optimizer_at_lr_or_learn_lr(dls):
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.01, opt_func=optim.Adam)
    learn.fit(1)
    first = learn.opt
    assert first.state  # Adam's moments after a fit
    learn.fit(1, lr=0.003)
    second = learn.opt
    assert second is not first and second.param_groups[0]["lr"] == 0.003
    learn.fit(1)
    assert learn.opt is not second and learn.opt.param_groups[0]["lr"] == 0.01


def test_momentum_learner_keeps_decayed_gradients_and_learns(dls):
    metrics = MetricsCB(accuracy=MulticlassAccuracy())
    learn = MomentumLearner(get_model(), dls, F.cross_entropy, 0.1, [DeviceCB(), metrics])
    learn.fit(3)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learn.model.parameters())
    assert float(metrics.logged[-1]["accuracy"]) > 0.5


def test_a_subclass_step_wins_over_a_callback_defining_the_same_step(dls):
    learn = MomentumLearner(get_model(), dls, F.cross_entropy, 0.1, [TrainCB()])  # TrainCB's zero_grad would zero
    learn.fit(1)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learn.model.parameters())
    plain = Learner(get_model(), dls, F.cross_entropy, 0.1, [TrainCB()])
    plain.fit(1)
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in plain.model.parameters())


def test_lr_find_with_the_courses_arguments_multiplies_the_lr_by_gamma_until_the_loss_triples(noisy_dls):
    progress, epochs = ProgressCB(), Epochs()
    learn = MomentumLearner(get_model(), noisy_dls, F.cross_entropy, cbs=[DeviceCB(), progress, epochs])
    result = learn.lr_find(gamma=1.3, max_mult=3, start_lr=1e-5, max_epochs=10)
    assert len(learn.cbs) == 3  # the finder joined its own fit only
    assert epochs.lrs[0] == pytest.approx(1e-5)
    assert [b / a for a, b in zip(epochs.lrs, epochs.lrs[1:])] == pytest.approx([1.3] * (len(epochs.lrs) - 1))
    losses = result["losses"]
    assert losses[-1] is None or losses[-1] > 3 * min(losses[:-1])  # it stopped at the first loss above 3x the min
    assert all(loss <= 3 * min(losses[: i + 1]) for i, loss in enumerate(losses[:-1]))
    assert len(epochs.lrs) < 10 * len(noisy_dls.train)  # it stopped before max_epochs ran out
    assert learn.epochs.main_bar.total == 10 and epochs.seen[0] == 0  # the master bar spans max_epochs


def test_lr_find_stops_after_max_epochs_when_the_loss_never_explodes(dls):
    epochs = Epochs()
    learn = Learner(get_model(), dls, F.cross_entropy, cbs=epochs)
    learn.lr_find(gamma=1.01, max_mult=3, start_lr=1e-6, max_epochs=2)
    assert epochs.seen == [0, 1] and len(epochs.lrs) == 2 * len(dls.train)


def test_capture_preds_returns_every_validation_prediction_and_target(dls):
    learn = Learner(get_model(), dls, F.cross_entropy, lr=0.2, cbs=TrainCB())
    learn.fit(1)
    preds, targs, inps = learn.capture_preds(inps=True)
    assert preds.shape == (100, 10) and inps.shape == (100, 1, 28, 28)
    assert torch.equal(targs, dls.valid.dataset.tensors[1])


# Lesson 10: activations -----------------------------------------------------------------------------------------


def test_hooks_collect_per_batch_stats_and_are_removed_after_the_fit(dls):
    astats = ActivationStats(fc.risinstance(nn.Conv2d))
    learn = TrainLearner(cnn_model(), dls, F.cross_entropy, lr=0.2, cbs=[DeviceCB(), astats])
    learn.fit(1)
    assert len(astats) == 4
    for h in astats:
        assert len(h.stats[0]) == len(h.stats[1]) == len(dls.train)  # training batches only (on_valid=False)
        assert get_hist(h).shape == (40, len(dls.train))
        assert ((get_min(h) >= 0) & (get_min(h) <= 1)).all()
    assert all(not m._forward_hooks for m in learn.model.modules())


def test_hooks_as_a_context_manager_remove_themselves(dls):
    model = cnn_model()
    with Hooks([m for m in model.modules() if isinstance(m, nn.Conv2d)], append_stats) as hooks:
        model(next(iter(dls.valid))[0])
    assert [len(h.stats[0]) for h in hooks] == [1, 1, 1, 1]
    assert all(not m._forward_hooks for m in model.modules())


# Lesson 11: initializing ----------------------------------------------------------------------------------------


def test_batch_transform_cb_normalizes_the_inputs_the_model_sees(dls):
    xb = torch.cat([x for x, _ in dls.train])
    xmean, xstd = xb.mean(), xb.std()
    seen = []

    class Inputs(Callback):
        order = 1

        def before_batch(self, learn): seen.append(learn.batch[0])

    def _norm(b): return (b[0] - xmean) / xstd, b[1]

    learn = TrainLearner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=[BatchTransformCB(_norm), Inputs()])
    learn.fit(1)
    train_inputs = torch.cat(seen[: len(dls.train)])
    assert train_inputs.mean().item() == pytest.approx(0, abs=1e-4)
    assert train_inputs.std().item() == pytest.approx(1, abs=1e-3)


# Lesson 12: accelerated SGD --------------------------------------------------------------------------------------


def test_batch_sched_cb_steps_one_cycle_per_batch_and_recorder_cb_records_lr_and_momentum(dls):
    epochs = 2
    tmax = epochs * len(dls.train)
    sched = partial(lr_scheduler.OneCycleLR, max_lr=0.01, total_steps=tmax)
    rec = RecorderCB(lr=_lr, mom=_beta1)
    # the recorder first: it reads the lr each batch trained with, before the schedule moves on
    learn = TrainLearner(get_model(), dls, F.cross_entropy, lr=0.01, cbs=[rec, BatchSchedCB(sched)],
                         opt_func=optim.AdamW)
    learn.fit(epochs)
    lrs, moms = rec.recs["lr"], rec.recs["mom"]
    assert len(lrs) == len(moms) == tmax
    peak = max(range(tmax), key=lrs.__getitem__)
    assert 0 < peak < tmax - 1 and lrs[peak] == pytest.approx(0.01, rel=0.05)
    assert lrs[: peak + 1] == sorted(lrs[: peak + 1]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[-1] < lrs[peak] / 100
    assert moms[peak] == min(moms) == pytest.approx(0.85, abs=1e-3)  # momentum falls as the lr rises, and back
    assert moms[0] == moms[-1] == pytest.approx(0.95, abs=1e-3)
    assert math.isfinite(learn.loss.item())


def test_cancel_epoch_in_a_course_callback_skips_the_validation_pass(dls):
    class NoValid(Callback):
        def before_epoch(self, learn):
            if not learn.training:
                raise CancelEpochException()

    metrics = MetricsCB()
    Learner(get_model(), dls, F.cross_entropy, lr=0.1, cbs=[NoValid(), metrics]).fit(2)
    assert [row["train"] for row in metrics.logged] == ["train", "train"]
