"""Augment training batches on the device (flip, crop, erase) and average flipped predictions at validation."""

from __future__ import annotations

import math

import torch

from minitrain.errors import ConfigError
from minitrain.events import Callback, Order
from minitrain.forward import flip_tta
from minitrain.tasks import reconstructs


def random_flip(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Each image mirrored left-right with probability `p`."""
    flip = torch.rand(len(x), device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Each image zero-padded by `padding` pixels, then cropped back to its size at a random offset:
    the content moves by up to `padding` pixels in each direction, independently per image."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy, dx = (torch.randint(0, 2 * padding + 1, (n, 1), device=x.device) for _ in range(2))
    rows = (dy + torch.arange(h, device=x.device))[:, :, None]  # n x h x 1
    cols = (dx + torch.arange(w, device=x.device))[:, None, :]  # n x 1 x w
    images = torch.arange(n, device=x.device)[:, None, None]
    return padded[images, :, rows, cols].permute(0, 3, 1, 2)  # advanced indices first: n x h x w x c -> n x c x h x w


def random_erase(x: torch.Tensor, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.25),
                 ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """With probability `p` per image, one rectangle covering a `scale` fraction of it (aspect `ratio`) set to 0."""
    n, _, h, w = x.shape
    rand = lambda lo, hi: lo + (hi - lo) * torch.rand(n, device=x.device)  # noqa: E731
    area = rand(*scale) * h * w
    aspect = rand(math.log(ratio[0]), math.log(ratio[1])).exp()
    eh = (area * aspect).sqrt().round().clamp(1, h)
    ew = (area / aspect).sqrt().round().clamp(1, w)
    top = (rand(0, 1) * (h - eh + 1)).floor()
    left = (rand(0, 1) * (w - ew + 1)).floor()
    r = torch.arange(h, device=x.device)[None, :, None]
    c = torch.arange(w, device=x.device)[None, None, :]
    inside = ((r >= top[:, None, None]) & (r < (top + eh)[:, None, None])
              & (c >= left[:, None, None]) & (c < (left + ew)[:, None, None]))
    erase = inside & (torch.rand(n, device=x.device) < p)[:, None, None]
    return x.masked_fill(erase[:, None], 0)


class AugmentCallback(Callback):
    """Replaces each training batch's images with augmented ones, on the device, after the device move.

    For reconstruction (`learn.task`, or a target that is the input itself) the target is the augmented image
    too: the model reproduces what it sees. Validation batches are left alone.
    """

    order = Order.AUGMENT

    def __init__(self, flip: bool = False, crop_padding: int = 0, erase_p: float = 0.0) -> None:
        self.flip, self.crop_padding, self.erase_p = flip, crop_padding, erase_p

    def before_fit(self, learn) -> None:
        """The padding must leave some of the image: check_config knows the side only when dataset.image_size is set."""
        data = getattr(learn.dls, "data", None)
        if self.crop_padding and data is not None and self.crop_padding >= data.image_size:
            raise ConfigError(f"augment.crop_padding={self.crop_padding} must be smaller than the images' side "
                              f"({data.image_size} pixels), e.g. augment.crop_padding=2.")

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop_padding > 0:
            x = random_crop(x, self.crop_padding)
        if self.flip:
            x = random_flip(x)
        if self.erase_p > 0:
            x = random_erase(x, self.erase_p)
        return x

    def before_batch(self, learn) -> None:
        if not learn.training:
            return
        x, y, *rest = learn.batch
        out = self.augment(x)
        learn.batch = (out, out if reconstructs(learn) or y is x else y, *rest)


class FlipTTACallback(Callback):
    """Test-time augmentation: at validation, predictions are the mean of the model's outputs for each image
    and its mirror image (a reconstruction of the mirror is mirrored back first)."""

    order = Order.TTA

    def after_predict(self, learn) -> None:
        if learn.training:
            return
        learn.preds = flip_tta(learn.model, learn.batch[0], learn.preds, reconstructs(learn))
