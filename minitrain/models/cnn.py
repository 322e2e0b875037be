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
    leak, sub, maxv) names the hidden convs' activation (see minitrain.models.activation)."""

    def __init__(self, channels: Sequence[int] = (4, 8, 16, 16), num_classes: int = 10,
                 batch_norm: bool = False, in_channels: int = 1, act: str = "relu", leak: float | None = None,
                 sub: float | None = None, maxv: float | None = None) -> None:
        widths = [in_channels, *channels]
        make_act = activation(act, leak, sub, maxv)
        super().__init__(
            *(conv(ni, nf, act=make_act, norm=batch_norm) for ni, nf in zip(widths, widths[1:])),
            conv(widths[-1], num_classes, act=False, one_pixel=True),  # 2x2 -> one pixel of logits at 28x28
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
