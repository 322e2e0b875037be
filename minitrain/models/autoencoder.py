"""The lesson's convolutional autoencoder: 28x28 -> a 4x4 latent -> 28x28 pixel intensities in [0, 1]."""

from collections.abc import Sequence

from torch import nn

from minitrain.models.layers import conv, deconv


class Autoencoder(nn.Sequential):
    """Pad to 32, three stride-2 convs down to 4x4x`channels[-1]`, three upsampling convs back, crop, sigmoid."""

    def __init__(self, channels: Sequence[int] = (2, 4, 8)) -> None:
        if len(channels) != 3:
            raise ValueError(f"the autoencoder takes three widths (16x16, 8x8, 4x4), got {list(channels)}")
        down = [1, *channels]
        up = down[::-1]
        super().__init__(
            nn.ZeroPad2d(2),
            *(conv(ni, nf) for ni, nf in zip(down, down[1:])),
            *(deconv(ni, nf) for ni, nf in zip(up[:-2], up[1:-1])),
            deconv(up[-2], 1, act=False),
            nn.ZeroPad2d(-2),
            nn.Sigmoid(),
        )
