"""Batch augmentation on the device: shapes kept, flips exact mirrors, crops shifts, erasing a zero rectangle,
targets of reconstructions augmented alike, validation untouched; and flipped test-time averaging."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import AugmentCallback, DeviceCallback, FlipTTACallback, MetricsCallback
from minitrain.callbacks.augment import random_crop, random_erase, random_flip
from minitrain.learner import Callback, DataLoaders, Learner
from minitrain.tasks import TASKS


def images(n: int = 64) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(n, 1, 28, 28)


def augmented_batch(training: bool = True, task: str = "classification", same_target: bool = False, **options):
    x = images()
    y = x if same_target else torch.arange(len(x)) % 10
    learn = SimpleNamespace(training=training, batch=(x, y), task=TASKS[task])
    AugmentCallback(**options).before_batch(learn)
    return x, y, learn.batch


@pytest.mark.parametrize("options", [{"flip": True}, {"crop_padding": 2}, {"erase_p": 1.0},
                                     {"flip": True, "crop_padding": 2, "erase_p": 0.5}],
                         ids=["flip", "crop", "erase", "all"])
def test_augmentation_keeps_shape_dtype_and_labels_and_changes_the_images(options):
    x, y, (out, target) = augmented_batch(**options)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert target is y
    assert not torch.equal(out, x)


def test_a_flip_mirrors_each_image_exactly_or_leaves_it_alone_about_half_the_time():
    x = images(200)
    out = random_flip(x)
    mirrored = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((mirrored | kept).all())
    assert 60 < int(mirrored.sum()) < 140


def test_a_crop_with_padding_shifts_each_image_by_at_most_the_padding_filling_with_zeros():
    x = torch.zeros(100, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0  # one bright pixel in the middle
    out = random_crop(x, padding=3)
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(100))  # the pixel moved, nothing else appeared
    rows, cols = out[:, 0].flatten(1).argmax(dim=1).div(28, rounding_mode="floor"), out[:, 0].flatten(1).argmax(dim=1) % 28
    assert int((rows - 14).abs().max()) <= 3 and int((cols - 14).abs().max()) <= 3
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 20  # each image gets its own shift
    edge = torch.ones(1, 1, 28, 28).expand(100, 1, 28, 28)
    shifted = random_crop(edge, padding=3)
    assert (shifted == 0).any() and set(shifted.unique().tolist()) <= {0.0, 1.0}  # zero padding comes in


def test_a_crop_without_padding_changes_nothing():
    x = images()
    assert torch.equal(random_crop(x, padding=0), x)


def test_erasing_sets_one_rectangle_of_each_image_to_zero():
    x = torch.ones(50, 1, 28, 28)
    out = random_erase(x, p=1.0)
    for image in out[:, 0]:
        rows, cols = (image == 0).nonzero(as_tuple=True)
        assert len(rows) > 0
        box = image[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert bool((box == 0).all())  # the zeros fill their bounding box: a rectangle
        assert len(rows) <= 0.25 * 28 * 28 + 28  # at most the largest scale, give or take rounding


def test_erasing_with_probability_zero_changes_nothing():
    x = images()
    assert torch.equal(random_erase(x, p=0.0), x)


def test_validation_batches_are_not_augmented():
    x, y, batch = augmented_batch(training=False, flip=True, crop_padding=2, erase_p=1.0)
    assert batch[0] is x and batch[1] is y


@pytest.mark.parametrize("task, same_target", [("reconstruction", False), ("classification", True)],
                         ids=["task says reconstruction", "target is the input tensor"])
def test_a_reconstruction_target_is_the_augmented_input(task, same_target):
    x, _, (out, target) = augmented_batch(task=task, same_target=same_target, flip=True, crop_padding=2)
    assert target is out and not torch.equal(out, x)


class Record(Callback):
    """Keeps the inputs the model is given, per pass."""

    def __init__(self) -> None:
        self.seen = {True: [], False: []}

    def before_predict(self, learn):
        self.seen[learn.training].append(learn.batch[0].clone())


def test_in_a_learner_training_batches_are_augmented_after_the_device_move_and_validation_batches_are_not():
    x = images(32)
    batches = [(x, torch.arange(32) % 10)]
    record = Record()
    augment = AugmentCallback(flip=True, crop_padding=2)
    assert DeviceCallback.order < augment.order < MetricsCallback.order
    learn = Learner(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), DataLoaders(batches, batches), F.cross_entropy,
                    0.1, [DeviceCallback("cpu"), augment, record])
    learn.fit(2)
    assert all(not torch.equal(seen, x) for seen in record.seen[True])
    assert all(torch.equal(seen, x) for seen in record.seen[False])


class Asymmetric(nn.Module):
    """A classifier that tells an image from its mirror (weights rise from left to right)."""

    def forward(self, x):
        return (x * torch.linspace(0, 1, x.shape[-1])).sum(dim=(1, 2, 3))[:, None] * torch.arange(1.0, 4.0)


def tta_preds(model, training: bool, task: str = "classification") -> tuple[torch.Tensor, torch.Tensor]:
    x = images(8)
    learn = SimpleNamespace(training=training, model=model, batch=(x, None), preds=model(x), task=TASKS[task])
    FlipTTACallback().after_predict(learn)
    return x, learn.preds


def test_flip_tta_averages_the_outputs_for_each_image_and_its_mirror_at_validation():
    model = Asymmetric()
    x, preds = tta_preds(model, training=False)
    assert torch.allclose(preds, (model(x) + model(x.flip(-1))) / 2)
    assert not torch.allclose(preds, model(x))


def test_flip_tta_leaves_training_predictions_alone():
    model = Asymmetric()
    x, preds = tta_preds(model, training=True)
    assert torch.equal(preds, model(x))


def test_flip_tta_mirrors_a_reconstruction_of_the_mirror_back():
    x, preds = tta_preds(nn.Identity(), training=False, task="reconstruction")
    assert torch.allclose(preds, x)


def test_a_run_with_flip_tta_but_no_flips_warns_with_the_reason_and_the_fix(tmp_path, run_cli, fakes, dataset_dirs):
    common = [*fakes.tiny, f"dataset.path={dataset_dirs['idx']}", "trainer.tta_flip=true"]
    warned = run_cli(tmp_path / "warned", *common, f"hydra.run.dir={tmp_path / 'warned' / 'run'}")
    assert warned.returncode == 0, warned.stderr[-2000:]
    said = " ".join((warned.stdout + warned.stderr).split())
    assert "a model never shown mirrored images is often wrong on them" in said and "augment=flip" in said
    assert "never shown mirrored images" in (tmp_path / "warned" / "run" / "minitrain.log").read_text()
    flipped = run_cli(tmp_path / "flipped", *common, "augment=flip", f"hydra.run.dir={tmp_path / 'flipped' / 'run'}")
    assert flipped.returncode == 0 and "mirrored" not in flipped.stdout + flipped.stderr
