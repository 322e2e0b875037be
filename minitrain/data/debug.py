"""Loaders for the debug presets: fewer batches per pass, or the same few batches over and over."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import islice

from minitrain.data.loaders import DataLoaders


class FirstBatches:
    """The first `n` batches of `loader` in each pass (its sampler still reshuffles per epoch)."""

    def __init__(self, loader: Iterable, n: int) -> None:
        self.loader, self.n = loader, n
        self.sampler = getattr(loader, "sampler", loader)  # so DataLoaders.set_epoch still reaches it

    def __len__(self) -> int:
        return min(self.n, len(self.loader))

    def __iter__(self) -> Iterator:
        return islice(self.loader, self.n)


class SameBatches:
    """The same `batches`, cycled for `steps` batches in each pass."""

    def __init__(self, batches: list, steps: int) -> None:
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator:
        return (self.batches[i % len(self.batches)] for i in range(self.steps))


def debug_loaders(dls: DataLoaders, limit_batches: int | None, overfit_batches: int = 0) -> DataLoaders:
    """`dls` cut to `limit_batches` per pass; with `overfit_batches`, the first that many training batches
    only, repeated to `limit_batches` steps per pass (or once) and validated on as they are."""
    if overfit_batches:
        batches = list(islice(dls.train, overfit_batches))  # drawn once: the very same tensors every pass
        return replace(dls, train=SameBatches(batches, limit_batches or len(batches)),
                       valid=SameBatches(batches, len(batches)))
    if limit_batches:
        return replace(dls, train=FirstBatches(dls.train, limit_batches), valid=FirstBatches(dls.valid, limit_batches))
    return dls
