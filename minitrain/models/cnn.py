"""The lesson's stride-2 CNN: each conv halves the image until one pixel of class logits remains (larger images
leave a few pixels, which are averaged)."""

from collections.abc import Sequence

from torch import nn

from minitrain.models.activation import activation
from minitrain.models.layers import conv


class CNN(nn.Sequential):
    """in_channels -> channels... -> num_classes, 28 -> 14 -> 7 -> 4 -> 2 -> 1 (32 -> ... -> 1) with the default
    four widths; the logits are averaged over whatever pixels remain (none to average at 28 or 32).

    `batch_norm` puts a BatchNorm after each hidden conv (the course's next step after this lesson); `act` (with
    leak, sub, maxv) names the hidden convs' activation (see minitrain.models.activation).
    `stem` > 0 adds a 3x3 stride-1 conv to that many channels before the first stride-2 conv, so that the net sees
    the image at full size before halving it. It has a bias and no BatchNorm, even with `batch_norm`: at full size
    a BatchNorm is the dearest layer of the net, and without one the stem costs little more than none."""

    def __init__(self, channels: Sequence[int] = (4, 8, 16, 16), num_classes: int = 10,
                 batch_norm: bool = False, in_channels: int = 1, act: str = "relu", leak: float | None = None,
                 sub: float | None = None, maxv: float | None = None, stem: int = 0) -> None:
        if stem < 0:
            raise ValueError(f"the CNN's stem width must be 0 (no stem) or more, got {stem}")
        widths = [stem or in_channels, *channels]
        make_act = activation(act, leak, sub, maxv)
        super().__init__(
            *([conv(in_channels, stem, stride=1, act=make_act)] if stem else []),
            *(conv(ni, nf, act=make_act, norm=batch_norm, few_pixels=i == len(channels) - 1)  # the last: 4x4 -> 2x2
              for i, (ni, nf) in enumerate(zip(widths, widths[1:]))),
            conv(widths[-1], num_classes, act=False, one_pixel=True),  # 2x2 -> one pixel of logits at 28x28
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
