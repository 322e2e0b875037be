"""Loaders that serve whole batches: shapes and types, batch counts, seeded shuffling, workers, targets."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from minitrain.config import LoaderConfig
from minitrain.data import ImageData, Split, build_loaders
from minitrain.data.loaders import BatchDataset

N_TRAIN, N_VALID = 300, 100


@pytest.fixture(scope="module")
def data(fake_data) -> ImageData:
    return ImageData(
        train=Split(torch.from_numpy(fake_data.train_images.copy()), torch.from_numpy(fake_data.train_labels.copy())),
        valid=Split(torch.from_numpy(fake_data.test_images.copy()), torch.from_numpy(fake_data.test_labels.copy())),
        classes=[str(i) for i in range(10)], source="fake data", seconds=0.0,
    )


def loader_cfg(**values):
    """The `loader` config node: the schema's defaults, with batch_size 32 unless given."""
    return OmegaConf.merge(OmegaConf.structured(LoaderConfig), {"batch_size": 32, **values})


def loaders(data, target="labels", seed=0, **cfg):
    return build_loaders(data, loader_cfg(**cfg), target, torch.device("cpu"), seed)


def batches_of(dl) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x, y) for x, y in dl]


def test_batch_dataset_answers_a_list_of_indices_with_one_stacked_batch(data):
    ds = BatchDataset(data.train, "labels")
    x, y = ds[[0, 5, 2]]
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert torch.allclose(x, data.train.images[[0, 5, 2]].float() / 255)  # images are stored N x C x H x W
    assert y.dtype == torch.int64 and torch.equal(y, data.train.labels[[0, 5, 2]])
    assert len(ds) == N_TRAIN


def test_batch_dataset_targets_are_the_inputs_for_reconstruction(data):
    x, y = BatchDataset(data.valid, "images")[[1, 3]]
    assert torch.equal(x, y) and y.shape == (2, 1, 28, 28)


def test_training_batches_cover_every_item_once_and_the_last_batch_is_short(data):
    dls = loaders(data, batch_size=32)
    sizes = [len(y) for _, y in dls.train]
    assert sizes == [32] * 9 + [12] and len(dls.train) == 10
    labels = torch.cat([y for _, y in dls.train])
    assert torch.equal(labels.sort().values, data.train.labels.sort().values)


def test_validation_batches_are_twice_the_training_batch_by_default_and_in_order(data):
    dls = loaders(data, batch_size=32)
    sizes = [len(y) for _, y in dls.valid]
    assert sizes == [64, 36] and len(dls.valid) == 2
    assert torch.equal(torch.cat([y for _, y in dls.valid]), data.valid.labels)


def test_valid_batch_size_overrides_the_default(data):
    dls = loaders(data, batch_size=32, valid_batch_size=50)
    assert [len(y) for _, y in dls.valid] == [50, 50]


def test_training_order_is_shuffled_and_repeats_with_the_same_seed(data):
    first = torch.cat([y for _, y in loaders(data, seed=7).train])
    again = torch.cat([y for _, y in loaders(data, seed=7).train])
    other = torch.cat([y for _, y in loaders(data, seed=8).train])
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not torch.equal(first, data.train.labels)  # shuffled at all


def test_each_epoch_is_shuffled_differently_but_reproducibly(data):
    dls = loaders(data, seed=3)
    epoch0 = torch.cat([x.flatten(1).sum(1) for x, _ in dls.train])
    dls.set_epoch(1)
    epoch1 = torch.cat([x.flatten(1).sum(1) for x, _ in dls.train])
    dls.set_epoch(0)
    assert not torch.equal(epoch0, epoch1)
    assert torch.equal(epoch0, torch.cat([x.flatten(1).sum(1) for x, _ in dls.train]))


def test_loaders_keep_the_data_they_serve(data):
    assert loaders(data).data is data


def test_worker_processes_serve_the_same_batches_as_the_main_process(data):
    single = loaders(data, seed=1, batch_size=64)
    multi = loaders(data, seed=1, batch_size=64, num_workers=2)
    assert multi.train.num_workers == 2 and multi.train.persistent_workers
    for _ in range(2):  # persistent workers serve a second epoch too
        for (xa, ya), (xb, yb) in zip(single.train, multi.train, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(torch.cat([y for _, y in multi.valid]), data.valid.labels)


def test_reconstruction_loaders_yield_the_images_as_targets(data):
    x, y = next(iter(loaders(data, target="images").train))
    assert torch.equal(x, y) and x.shape == (32, 1, 28, 28)


def test_data_kept_on_the_device_is_served_in_the_same_batches_as_by_a_dataloader(data):
    dataloader = loaders(data, seed=5, on_device="false")
    on_device = loaders(data, seed=5, on_device="true")
    for epoch in (0, 1):
        dataloader.set_epoch(epoch)
        on_device.set_epoch(epoch)
        for split in ("train", "valid"):
            pairs = zip(batches_of(getattr(dataloader, split)), batches_of(getattr(on_device, split)), strict=True)
            assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in pairs)
    assert len(on_device.train) == len(dataloader.train) == 10
