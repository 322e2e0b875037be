"""The building blocks the lesson's models share."""

from __future__ import annotations

from torch import nn


def conv(ni: int, nf: int, stride: int = 2, act: bool = True) -> nn.Sequential:
    """A 3x3 convolution (stride 2 halves the image), followed by ReLU unless `act` is False."""
    layers: list[nn.Module] = [nn.Conv2d(ni, nf, kernel_size=3, stride=stride, padding=1)]
    if act:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def deconv(ni: int, nf: int, act: bool = True) -> nn.Sequential:
    """Double the image with nearest-neighbour upsampling, then a stride-1 conv."""
    return nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), *conv(ni, nf, stride=1, act=act))
