"""The lesson's convolutional autoencoder: an image -> a latent an eighth of its size -> pixel intensities in [0, 1]."""

from collections.abc import Sequence

from torch import nn

from minitrain.models.activation import activation
from minitrain.models.layers import conv, deconv


class Autoencoder(nn.Sequential):
    """Zero-pad to a multiple of 8 (28 -> 32), three stride-2 convs down to an eighth (4x4x`channels[-1]`),
    three upsampling convs back, crop to the input's size, sigmoid; `act` (with leak, sub, maxv) names the
    hidden convs' activation (see minitrain.models.activation)."""

    def __init__(self, channels: Sequence[int] = (2, 4, 8), in_channels: int = 1, image_size: int = 28,
                 act: str = "relu", leak: float | None = None, sub: float | None = None,
                 maxv: float | None = None) -> None:
        if len(channels) != 3:
            raise ValueError(f"the autoencoder takes three widths (16x16, 8x8, 4x4), got {list(channels)}")
        pad = (-image_size) % 8  # three stride-2 convs divide the padded size by 8
        sides = (pad // 2, pad - pad // 2) * 2  # left, right, top, bottom
        down = [in_channels, *channels]
        up = down[::-1]
        make_act = activation(act, leak, sub, maxv)
        super().__init__(
            nn.ZeroPad2d(sides),
            *(conv(ni, nf, act=make_act) for ni, nf in zip(down, down[1:])),
            *(deconv(ni, nf, act=make_act) for ni, nf in zip(up[:-2], up[1:-1])),
            deconv(up[-2], in_channels, act=False),
            nn.ZeroPad2d(tuple(-s for s in sides)),  # negative padding crops back to image_size
            nn.Sigmoid(),
        )
