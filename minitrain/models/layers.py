"""The building blocks the lesson's models share."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def conv(ni: int, nf: int, stride: int = 2, act: bool | Callable[[], nn.Module] = True, norm: bool = False,
         kernel_size: int = 3) -> nn.Sequential:
    """A convolution (3x3 with stride 2 halves the image), then BatchNorm if `norm` (the conv drops its bias:
    the norm has one), then ReLU (or `act()`, when `act` makes an activation) unless `act` is False."""
    layers: list[nn.Module] = [
        nn.Conv2d(ni, nf, kernel_size, stride=stride, padding=kernel_size // 2, bias=not norm)
    ]
    if norm:
        layers.append(nn.BatchNorm2d(nf))
    if act:
        layers.append(act() if callable(act) else nn.ReLU())
    return nn.Sequential(*layers)


def deconv(ni: int, nf: int, act: bool | Callable[[], nn.Module] = True) -> nn.Sequential:
    """Double the image with nearest-neighbour upsampling, then a stride-1 conv."""
    return nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), *conv(ni, nf, stride=1, act=act))
