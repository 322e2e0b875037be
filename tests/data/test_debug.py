"""The debug presets' loaders: the first few batches per pass, or the same batches over and over."""

from __future__ import annotations

import torch

from minitrain.data.debug import debug_loaders
from minitrain.learner import DataLoaders


class Shuffled:
    """A loader of 10 batches whose order its sampler's epoch decides."""

    def __init__(self) -> None:
        self.sampler = self
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 10

    def __iter__(self):
        order = torch.randperm(10, generator=torch.Generator().manual_seed(self.epoch))
        return ((torch.full((2, 1), float(i)), torch.tensor([i, i])) for i in order.tolist())


def firsts(loader) -> list[int]:
    return [int(x[0, 0]) for x, _ in loader]


def test_limit_batches_cuts_each_pass_and_keeps_the_per_epoch_shuffle():
    dls = debug_loaders(DataLoaders(Shuffled(), Shuffled()), limit_batches=3)
    assert (len(dls.train), len(dls.valid)) == (3, 3)
    dls.set_epoch(0)
    first = firsts(dls.train)
    dls.set_epoch(1)
    assert len(first) == 3 and firsts(dls.train) != first and len(firsts(dls.valid)) == 3


def test_overfit_batches_trains_and_validates_on_the_very_same_batch_every_pass():
    dls = debug_loaders(DataLoaders(Shuffled(), Shuffled()), limit_batches=4, overfit_batches=1)
    assert (len(dls.train), len(dls.valid)) == (4, 1)
    batches = [*dls.train, *dls.valid]
    dls.set_epoch(1)  # no sampler to reshuffle: nothing changes
    batches += list(dls.train)
    assert all(x is batches[0][0] for x, _ in batches)


def test_no_limits_leave_the_loaders_alone():
    dls = DataLoaders(Shuffled(), Shuffled())
    assert debug_loaders(dls, None, 0) is dls
