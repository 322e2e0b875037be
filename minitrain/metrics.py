"""The Metric protocol (`reset`, `add` a batch, read `value`) and the metrics minitrain reports.

Metrics accumulate on the batch's device and are read once per pass, so the training loop
never waits for the GPU just to update a number.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Metric(Protocol):
    """Anything that can be reset, fed batches and read."""

    def reset(self) -> None: ...

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None: ...

    @property
    def value(self) -> float: ...


class Mean:
    """Mean of per-batch values weighted by batch size, so a short last batch counts for what it holds."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count = 0

    def add(self, value: torch.Tensor, n: int) -> None:
        self.total = self.total + value.detach() * n
        self.count += n

    @property
    def value(self) -> float:
        return float(self.total) / self.count if self.count else float("nan")


class Accuracy:
    """Fraction of items whose highest-scoring class is the target."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct: torch.Tensor | int = 0
        self.count = 0

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        self.correct = self.correct + (preds.argmax(dim=1) == targets).sum()
        self.count += len(targets)

    @property
    def value(self) -> float:
        return float(self.correct) / self.count if self.count else float("nan")


class PSNR:
    """Peak signal-to-noise ratio in dB for images in [0, 1], averaged per image."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count = 0

    def add(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        mse = (preds.detach().float() - targets.float()).pow(2).flatten(1).mean(dim=1)
        self.total = self.total + (-10 * torch.log10(mse.clamp_min(1e-10))).sum()
        self.count += len(targets)

    @property
    def value(self) -> float:
        return float(self.total) / self.count if self.count else float("nan")
