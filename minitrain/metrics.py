"""The Metric protocol (`reset`, `add` a batch, read `value`) and the metrics minitrain reports.

Metrics accumulate on the batch's device and are read once per pass, so the training loop
never waits for the GPU just to update a number. In distributed training `sync` sums the
accumulators across ranks before the value is read.
"""

from __future__ import annotations

from typing import Protocol

import torch

from minitrain.distributed import all_reduce_sum


class Metric(Protocol):
    """Anything that can be reset, fed batches of predictions and targets, summed over ranks and read
    (Accuracy and PSNR are; Mean, which averages a loss, takes a value and a count instead)."""

    def reset(self) -> None: ...

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None: ...

    def sync(self, device: torch.device | None = None) -> None: ...

    @property
    def value(self) -> float: ...


class _Ratio:
    """A running total over a running count, both kept as tensors on the device they come from."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | None = None
        self.count: torch.Tensor | None = None

    def _accumulate(self, total: torch.Tensor, count: int) -> None:
        total = total.detach().float()
        if self.total is None:
            self.total = torch.zeros((), device=total.device)
            self.count = torch.zeros((), device=total.device)
        self.total += total
        self.count += count

    def sync(self, device: torch.device | None = None) -> None:
        """Sum over ranks. Every rank must join, also one that saw no batch (it adds zeros on `device`)."""
        if self.total is None:
            self.total, self.count = torch.zeros((), device=device), torch.zeros((), device=device)
        all_reduce_sum(self.total, self.count)

    @property
    def value(self) -> float:
        if self.count is None or float(self.count) == 0:
            return float("nan")
        return float(self.total) / float(self.count)


class Mean(_Ratio):
    """Mean of per-batch values weighted by batch size, so a short last batch counts for what it holds."""

    def add(self, value: torch.Tensor, n: int) -> None:
        self._accumulate(value * n, n)


class Accuracy(_Ratio):
    """Fraction of items whose highest-scoring class is the target."""

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        self._accumulate((preds.argmax(dim=1) == targets).sum(), len(targets))


def per_image_mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each image's mean squared error (N values)."""
    return (preds.detach().float() - targets.float()).pow(2).flatten(1).mean(dim=1)


def psnr(mse: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of images in [0, 1] from their MSE (floored at 1e-10: 100 dB at most)."""
    return -10 * torch.log10(mse.clamp_min(1e-10))


class PSNR(_Ratio):
    """Peak signal-to-noise ratio in dB for images in [0, 1], averaged per image."""

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        self._accumulate(psnr(per_image_mse(preds, targets)).sum(), len(targets))
