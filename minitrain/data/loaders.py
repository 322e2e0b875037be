"""DataLoaders that fetch whole batches: the sampler yields index lists, the dataset answers with a stacked batch."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from minitrain.data.sources import Split
from minitrain.learner import DataLoaders


class BatchDataset(Dataset):
    """A decoded split that answers a list of indices with one stacked batch.

    Indexing a uint8 tensor once per batch replaces a Python call per item; the float conversion
    happens here, in the worker when there are workers, never in a collate function.
    """

    def __init__(self, split: Split, target: str) -> None:
        self.images, self.labels, self.target = split.images, split.labels, target

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        x = self.images[idx].unsqueeze(1).float().div_(255)
        return x, (x if self.target == "images" else self.labels[idx])


class EpochBatchSampler(Sampler[list[int]]):
    """Index batches over `n` items; when shuffling, epoch e's order depends only on (seed, e).

    So a resumed run sees the same batches as an uninterrupted one, and every rank of a
    distributed run agrees on the permutation before taking its shard (`rank::world_size`).
    """

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        yield from (batch.tolist() for batch in self.indices().split(self.batch_size))

    def __len__(self) -> int:
        return math.ceil(len(range(self.rank, self.n, self.world_size)) / self.batch_size)


def _loader(split: Split, target: str, batch_size: int, shuffle: bool, num_workers: int, pin_memory: bool,
            seed: int) -> DataLoader:
    ds = BatchDataset(split, target)
    return DataLoader(
        ds,
        sampler=EpochBatchSampler(len(ds), batch_size, shuffle, seed),
        batch_size=None,  # the sampler already yields batches: no per-item fetch, no collate
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def build_loaders(data, cfg, target: str, device: torch.device, seed: int) -> DataLoaders:
    """Training (shuffled per epoch from `seed`) and validation (in order, larger batches) loaders for `data`."""
    pin = device.type == "cuda"
    valid_bs = cfg.valid_batch_size or 2 * cfg.batch_size
    return DataLoaders(
        train=_loader(data.train, target, cfg.batch_size, True, cfg.num_workers, pin, seed),
        valid=_loader(data.valid, target, valid_bs, False, cfg.num_workers, pin, seed),
        data=data,
    )
