"""The building blocks the lesson's models share."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class StridedPointwiseConv(nn.Conv2d):
    """A 1x1 convolution with a stride, computed as every stride-th pixel through a stride-1 1x1 conv: the same
    numbers and the same weights (state_dict keys included). torch 2.13's CPU kernel for a strided 1x1 conv over
    channels-last inputs with few channels corrupts the heap in the backward pass on CPUs without AVX-512 (3 or 4
    channels crash; seen on an AMD EPYC with AVX2), which a ResNet's shortcut with channels-last activations or
    shifted-crop augmentation met."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sy, sx = self.stride
        return nn.functional.conv2d(x[..., ::sy, ::sx], self.weight, self.bias)


class OnePixelConv(nn.Conv2d):
    """A convolution whose output, when it is a single pixel (the lesson's CNN's last conv, 3x3 with stride 2 over
    a 2x2 image), is computed as one matrix product of the image with the kernel taps that meet it: the same
    numbers and the same weights (state_dict keys included), any other output through nn.Conv2d. torch 2.13's
    oneDNN backward for that one-pixel conv costs as much as a hidden layer's (7 of a 48 ms step at batch 512 on
    2 AVX2 cores) for a hundredth of the arithmetic."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        h, w = x.shape[-2:]
        if (x.dim() != 4 or self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros"
                or isinstance(self.padding, str)):
            return super().forward(x)
        ph, pw = self.padding
        if (h + 2 * ph - kh) // sh != 0 or (w + 2 * pw - kw) // sw != 0 or ph >= kh or pw >= kw:
            return super().forward(x)
        rows, cols = min(h, kh - ph), min(w, kw - pw)  # the image's pixels the kernel meets, from its top left
        out = torch.einsum("bchw,ochw->bo", x[..., :rows, :cols], self.weight[:, :, ph:ph + rows, pw:pw + cols])
        if self.bias is not None:  # in the product's dtype: under autocast a conv's output is bf16, bias included
            out = out + self.bias.to(out.dtype)
        return out[:, :, None, None]


def conv(ni: int, nf: int, stride: int = 2, act: bool | Callable[[], nn.Module] = True, norm: bool = False,
         kernel_size: int = 3, one_pixel: bool = False) -> nn.Sequential:
    """A convolution (3x3 with stride 2 halves the image), then BatchNorm if `norm` (the conv drops its bias:
    the norm has one), then ReLU (or `act()`, when `act` makes an activation) unless `act` is False.
    `one_pixel` makes it a OnePixelConv, for a conv whose output is expected to be a single pixel."""
    if kernel_size == 1 and stride > 1:
        make = StridedPointwiseConv
    else:
        make = OnePixelConv if one_pixel else nn.Conv2d
    layers: list[nn.Module] = [make(ni, nf, kernel_size, stride=stride, padding=kernel_size // 2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(nf))
    if act:
        layers.append(act() if callable(act) else nn.ReLU())
    return nn.Sequential(*layers)


def deconv(ni: int, nf: int, act: bool | Callable[[], nn.Module] = True) -> nn.Sequential:
    """Double the image with nearest-neighbour upsampling, then a stride-1 conv."""
    return nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), *conv(ni, nf, stride=1, act=act))
