"""DataLoaders that fetch whole batches: the sampler yields index lists, the dataset answers with a stacked batch."""

from __future__ import annotations

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

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


def _loader(split: Split, target: str, batch_size: int, shuffle: bool, num_workers: int, pin_memory: bool,
            generator: torch.Generator | None) -> DataLoader:
    ds = BatchDataset(split, target)
    order = RandomSampler(ds, generator=generator) if shuffle else SequentialSampler(ds)
    return DataLoader(
        ds,
        sampler=BatchSampler(order, batch_size, drop_last=False),
        batch_size=None,  # the sampler already yields batches: no per-item fetch, no collate
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


def build_loaders(data, cfg, target: str, device: torch.device, seed: int) -> DataLoaders:
    """Training (shuffled, seeded) and validation (in order, larger batches) loaders for `data`."""
    pin = device.type == "cuda"
    generator = torch.Generator().manual_seed(seed)
    valid_bs = cfg.valid_batch_size or 2 * cfg.batch_size
    return DataLoaders(
        train=_loader(data.train, target, cfg.batch_size, True, cfg.num_workers, pin, generator),
        valid=_loader(data.valid, target, valid_bs, False, cfg.num_workers, pin, None),
        data=data,
    )
