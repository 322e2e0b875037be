"""A small residual CNN for small images (28x28, 32x32): a stem conv, stages of residual blocks that halve the image, pool, linear."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from minitrain.models.activation import activation
from minitrain.models.layers import conv


class ResBlock(nn.Module):
    """relu(conv-BN(conv-BN-relu(x)) + shortcut(x)); the shortcut is a strided 1x1 conv when the shape changes.

    The second BatchNorm's scale starts at zero, so a fresh block is the identity (plus its shortcut):
    a deep network starts as a shallow one and trains from the first step.
    """

    def __init__(self, ni: int, nf: int, stride: int = 1, act: Callable[[], nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv(ni, nf, stride=stride, act=act, norm=True),
                                   conv(nf, nf, stride=1, act=False, norm=True))
        same = ni == nf and stride == 1
        self.shortcut = nn.Identity() if same else conv(ni, nf, kernel_size=1, stride=stride, act=False, norm=True)
        self.act = nn.ReLU(inplace=True) if act is nn.ReLU else act()
        nn.init.zeros_(self.convs[-1][1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.convs(x) + self.shortcut(x))


class ResNet(nn.Sequential):
    """Stem conv at full size, then one stage per width in `channels`, each of `depth` residual blocks
    whose first halves the image (28 -> 14 -> 7 -> 4 with three stages); average pool, linear classifier.
    `act` (with leak, sub, maxv) names the activation (see minitrain.models.activation)."""

    def __init__(self, channels: Sequence[int] = (16, 32, 64), depth: int = 1, num_classes: int = 10,
                 in_channels: int = 1, act: str = "relu", leak: float | None = None, sub: float | None = None,
                 maxv: float | None = None) -> None:
        if not channels or depth < 1:
            raise ValueError(f"the ResNet needs at least one stage width and depth >= 1, got {list(channels)}, {depth}")
        widths = [channels[0], *channels]
        make_act = activation(act, leak, sub, maxv)
        stages = [
            ResBlock(ni if i == 0 else nf, nf, stride=2 if i == 0 else 1, act=make_act)
            for ni, nf in zip(widths, widths[1:])
            for i in range(depth)
        ]
        super().__init__(
            conv(in_channels, channels[0], stride=1, act=make_act, norm=True),
            *stages,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels[-1], num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
