"""From stored uint8 pixels to the floats a model sees: the one place for `/255` and per-channel normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Stats:
    """Per-channel mean and standard deviation of a split's pixels, in [0, 1] units (C floats each)."""

    mean: torch.Tensor
    std: torch.Tensor

    def to(self, device: torch.device) -> Stats:
        return Stats(self.mean.to(device), self.std.to(device))


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> Stats:
    """Mean and std of each channel of uint8 images (N x C x H x W), summed in float64 chunks (no full float copy)."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for part in images.split(chunk):
        x = part.to(torch.float64).div_(255)
        total += x.sum(dim=(0, 2, 3))
        squares += x.square().sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-3)  # a flat channel must not divide by 0
    return Stats(mean.float(), std.float())


def to_input(images: torch.Tensor, stats: Stats | None = None) -> torch.Tensor:
    """uint8 images (N x C x H x W) as floats in [0, 1], then `(x - mean) / std` per channel when `stats` are given."""
    x = images.float().div_(255)
    if stats is not None:
        x = x.sub_(stats.mean[:, None, None]).div_(stats.std[:, None, None])
    return x


def input_stats(stats: Stats | None, target: str) -> Stats | None:
    """The statistics a model's inputs are normalised with: the training split's when the targets are labels; none
    when they are the images themselves (an autoencoder's sigmoid reproduces pixel values in [0, 1], so its input
    stays in them)."""
    return stats if target == "labels" else None
