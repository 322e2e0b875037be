"""DataLoaders that fetch whole batches: the sampler yields index lists, the dataset answers with a stacked batch."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from minitrain.data.pixels import Stats, input_stats, to_input
from minitrain.data.sources import Split
from minitrain.distributed import Rank

if TYPE_CHECKING:
    from minitrain.data import ImageData


@dataclass
class DataLoaders:
    """The two loaders a Learner iterates, and the decoded data behind them (for pictures and reports)."""

    train: Iterable
    valid: Iterable
    data: ImageData | None = None  # images, labels and class names, when minitrain built the loaders

    def set_epoch(self, epoch: int) -> None:
        """Tell samplers that reshuffle per epoch (they have `set_epoch`) which epoch begins."""
        for dl in (self.train, self.valid):
            sampler = getattr(dl, "sampler", dl)  # DataLoader and DeviceBatches both name theirs `sampler`
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)


class BatchDataset(Dataset):
    """A decoded split that answers a list of indices with one stacked batch.

    Indexing a uint8 tensor once per batch replaces a Python call per item; the float conversion
    (and normalisation with `stats`) happens here, in the worker when there are workers, never in a collate function.
    """

    def __init__(self, split: Split, target: str, stats: Stats | None = None) -> None:
        self.images, self.labels, self.target, self.stats = split.images, split.labels, target, stats

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        x = to_input(self.images[idx], self.stats)
        return x, (x if self.target == "images" else self.labels[idx])


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches over `n` items; when shuffling, epoch e's order depends only on (seed, e).

    So a resumed run sees the same batches as an uninterrupted one, and every rank of a
    distributed run agrees on the permutation before taking its shard (`rank::world_size`).
    Shuffled (training) shards are cut to the same length on every rank, dropping the last
    n % world_size items of the epoch's order: DDP hangs when one rank has a batch more.
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) % 2**64)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        return order[self.rank : self.used() : self.world_size]

    def used(self) -> int:
        """How many of the n items the ranks take between them each epoch."""
        return self.n - self.n % self.world_size if self.shuffle else self.n

    def __iter__(self) -> Iterator[list[int]]:
        yield from (batch.tolist() for batch in self.indices().split(self.batch_size))

    def __len__(self) -> int:
        return math.ceil(len(range(self.rank, self.used(), self.world_size)) / self.batch_size)


class DeviceBatches:
    """A split kept whole on the training device (uint8), sliced into batches there.

    No workers, no pinned copies, no per-batch transfers: the permutation comes from the same
    EpochBatchSampler as the DataLoader path (so both see identical batches), moves to the device
    once per epoch, and each batch is gathered and converted to float on the device.
    """

    def __init__(self, split: Split, target: str, sampler: EpochBatchSampler, device: torch.device,
                 stats: Stats | None = None) -> None:
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.target, self.sampler, self.device = target, sampler, device
        self.stats = stats.to(device) if stats is not None else None

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for idx in self.sampler.indices().to(self.device).split(self.sampler.batch_size):
            x = to_input(self.images[idx], self.stats)
            yield x, (x if self.target == "images" else self.labels[idx])


def fits_on_device(data, device: torch.device, share: float = 0.25) -> bool:
    """Whether both splits take at most `share` of the device's free memory (always False on CPU)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    needed = sum(s.images.numel() * s.images.element_size() + s.labels.numel() * 8 for s in (data.train, data.valid))
    return needed <= share * free


def _loader(split: Split, target: str, sampler: EpochBatchSampler, num_workers: int, pin_memory: bool,
            stats: Stats | None) -> DataLoader:
    return DataLoader(
        BatchDataset(split, target, stats),
        sampler=sampler,
        batch_size=None,  # the sampler already yields batches: no per-item fetch, no collate
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        # Workers draw their base seed when they start: from this generator, not the global one, so starting
        # them (once, with persistent workers) does not shift the augmentation's random draws, and a resumed
        # run, whose workers start an epoch later, draws exactly what the uninterrupted run drew.
        generator=torch.Generator().manual_seed(0),
    )


def valid_batch_size(cfg) -> int:
    """`loader.valid_batch_size`, or twice the training batch size when null (validation keeps no gradients)."""
    return cfg.valid_batch_size or 2 * cfg.batch_size


def build_loaders(data, cfg, target: str, device: torch.device, seed: int, rank: Rank = Rank()) -> DataLoaders:
    """Training (shuffled per epoch from `seed`) and validation (in order, larger batches) loaders for `data`.

    With `cfg.on_device` (auto: on a GPU the data fits on) the splits live on the device;
    otherwise DataLoaders with `cfg.num_workers` workers feed it. Batch sizes are global: in
    distributed training each rank takes its shard of every batch's worth of items. Inputs are normalised
    with the training split's per-channel statistics when the targets are labels (see `input_stats`).
    """
    stats = input_stats(data.stats, target)
    valid_bs = valid_batch_size(cfg)
    samplers = {
        name: EpochBatchSampler(len(split.labels), max(1, bs // rank.world_size), shuffle, seed, rank.rank, rank.world_size)
        for name, split, bs, shuffle in (("train", data.train, cfg.batch_size, True), ("valid", data.valid, valid_bs, False))
    }
    choice = str(cfg.on_device).lower()
    if fits_on_device(data, device) if choice == "auto" else choice == "true":
        make = lambda name, split: DeviceBatches(split, target, samplers[name], device, stats)  # noqa: E731
    else:
        make = lambda name, split: _loader(split, target, samplers[name], cfg.num_workers, device.type == "cuda", stats)  # noqa: E731
    return DataLoaders(train=make("train", data.train), valid=make("valid", data.valid), data=data)
