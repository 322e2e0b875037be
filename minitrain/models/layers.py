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


def output_pixels(conv: nn.Conv2d, x: torch.Tensor) -> tuple[int, int] | None:
    """The output's height and width for a batch `x`, when the conv is a plain one (a batch of images, one group,
    no dilation, zero padding given in pixels) whose output a matrix product can compute; None otherwise."""
    if (x.dim() != 4 or conv.groups != 1 or conv.dilation != (1, 1) or conv.padding_mode != "zeros"
            or isinstance(conv.padding, str)):
        return None
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    return (x.shape[-2] + 2 * ph - kh) // sh + 1, (x.shape[-1] + 2 * pw - kw) // sw + 1


class OnePixelConv(nn.Conv2d):
    """A convolution whose output, when it is a single pixel (the lesson's CNN's last conv, 3x3 with stride 2 over
    a 2x2 image), is computed as one matrix product of the image with the kernel taps that meet it: the same
    numbers and the same weights (state_dict keys included), any other output through nn.Conv2d. torch 2.13's
    oneDNN backward for that one-pixel conv costs as much as a hidden layer's (7 of a 48 ms step at batch 512 on
    2 AVX2 cores) for a hundredth of the arithmetic."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if output_pixels(self, x) != (1, 1) or ph >= kh or pw >= kw:
            return super().forward(x)
        h, w = x.shape[-2:]
        rows, cols = min(h, kh - ph), min(w, kw - pw)  # the image's pixels the kernel meets, from its top left
        out = torch.einsum("bchw,ochw->bo", x[..., :rows, :cols], self.weight[:, :, ph:ph + rows, pw:pw + cols])
        if self.bias is not None:  # in the product's dtype: under autocast a conv's output is bf16, bias included
            out = out + self.bias.to(out.dtype)
        return out[:, :, None, None]


FEW_PIXELS = 4  # outputs of at most this many pixels take FewPixelConv's weight gradient
REDUCED = (torch.bfloat16, torch.float16)  # the dtypes in which it is faster than oneDNN's


class _WeightGradByWindows(torch.autograd.Function):
    """A conv without bias: forward and input gradient by oneDNN, the weight gradient as one matrix product of the
    output gradient with the input windows each output pixel saw (few pixels: a few small copies)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int],
                padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return nn.functional.conv2d(x, weight, None, stride, padding)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        (sh, sw), (ph, pw) = ctx.stride, ctx.padding
        o, c, kh, kw = weight.shape
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(grad, x, weight, None, list(ctx.stride), list(ctx.padding),
                                                         [1, 1], False, [0, 0], 1, [True, False, False])[0]
        padded = nn.functional.pad(x, (pw, pw, ph, ph))
        rows, cols = grad.shape[-2:]
        windows = torch.stack([padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                               for i in range(rows) for j in range(cols)])  # pixels x batch x c x kh x kw
        per_pixel = grad.flatten(2).permute(2, 0, 1)  # pixels x batch x o
        grad_w = torch.einsum("pbo,pbk->ok", per_pixel, windows.flatten(2)).view(o, c, kh, kw)
        return grad_x, grad_w.to(weight.dtype), None, None


class FewPixelConv(nn.Conv2d):
    """A convolution whose output has a few pixels (the lesson's CNN's fourth conv, 4x4 -> 2x2), with the same
    numbers and weights as nn.Conv2d and, in bf16 or fp16, a faster weight gradient: torch 2.13's oneDNN computes
    it for so few output pixels at a fraction of its usual speed (7.8 of a 14 ms forward and backward at batch
    512 in bf16 with AMX; as one matrix product, 7.4 ms in all). In float32 oneDNN's is as fast or faster (the
    default CNN's batch-64 step: 4.4 ms against 5.1), so float32, GPUs, bigger outputs and unusual settings go
    through nn.Conv2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixels = output_pixels(self, x)
        if pixels is None or pixels[0] * pixels[1] > FEW_PIXELS or x.device.type != "cpu":
            return super().forward(x)  # (a GPU's kernels were not measured: they keep their own)
        weight, device = self.weight, x.device.type
        if torch.is_autocast_enabled(device):  # a custom Function is not autocast: cast as a conv would be
            dtype = torch.get_autocast_dtype(device)
            x, weight = x.to(dtype), weight.to(dtype)
        if x.dtype not in REDUCED or weight.dtype != x.dtype:
            return super().forward(x)
        with torch.autocast(device, enabled=False):
            out = _WeightGradByWindows.apply(x, weight, self.stride, self.padding)
        return out if self.bias is None else out + self.bias.to(out.dtype)[:, None, None]


def conv(ni: int, nf: int, stride: int = 2, act: bool | Callable[[], nn.Module] = True, norm: bool = False,
         kernel_size: int = 3, one_pixel: bool = False, few_pixels: bool = False) -> nn.Sequential:
    """A convolution (3x3 with stride 2 halves the image), then BatchNorm if `norm` (the conv drops its bias:
    the norm has one), then ReLU (or `act()`, when `act` makes an activation) unless `act` is False.
    `one_pixel` makes it a OnePixelConv, for a conv whose output is expected to be a single pixel; `few_pixels` a
    FewPixelConv, for one whose output is expected to be a few (2x2)."""
    if kernel_size == 1 and stride > 1:
        make = StridedPointwiseConv
    else:
        make = OnePixelConv if one_pixel else FewPixelConv if few_pixels else nn.Conv2d
    layers: list[nn.Module] = [make(ni, nf, kernel_size, stride=stride, padding=kernel_size // 2, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(nf))
    if act:
        layers.append(act() if callable(act) else nn.ReLU())
    return nn.Sequential(*layers)


def deconv(ni: int, nf: int, act: bool | Callable[[], nn.Module] = True) -> nn.Sequential:
    """Double the image with nearest-neighbour upsampling, then a stride-1 conv."""
    return nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2), *conv(ni, nf, stride=1, act=act))
