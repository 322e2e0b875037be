"""How a batch goes through the model, one piece of code for training's validation pass and for inference.

The Learner's callbacks (DeviceCallback, AutocastCallback, FlipTTACallback) and `load_run`'s `Run.forward`
(eval, predict) call these same functions, so eval repeats what validation measured by construction:
inputs on the device in the model's memory format, autocast at the run's precision, flip test-time augmentation.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from minitrain.config import Precision
from minitrain.device import has_native_bf16

# trainer.precision -> the dtype autocast runs the forward pass in (None: plain float32)
AUTOCAST_DTYPES: dict[Precision, torch.dtype | None] = {
    Precision.fp32: None, Precision.bf16: torch.bfloat16, Precision.fp16: torch.float16,
}


def resolve_precision(precision: str, device: torch.device) -> Precision:
    """`trainer.precision` as it runs on `device`: `auto` is bf16 where the device computes bfloat16 natively (a CPU
    with AVX-512 BF16, AMX or ARM's BF16; an NVIDIA GPU from Ampere on) and fp32 elsewhere, where emulated bfloat16
    is slower than float32 (6x for fashion_fast on a 2-core AVX2 CPU); any other name is itself."""
    chosen = Precision(str(precision))
    if chosen is not Precision.auto:
        return chosen
    return Precision.bf16 if device.type in ("cpu", "cuda") and has_native_bf16(device) else Precision.fp32


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a `trainer.precision` name on `device` (fp32: None)."""
    return AUTOCAST_DTYPES[resolve_precision(precision, device)]


def to_device(batch, device: torch.device, channels_last: bool = False):
    """The batch (a tensor, or a tuple or list of them) on `device`; copies from pinned memory overlap compute.
    With `channels_last` the inputs (a batch's first tensor) are stored NHWC, as a channels-last model wants."""
    if isinstance(batch, torch.Tensor):
        x = batch.to(device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x
    moved = [to_device(b, device) for b in batch]
    if channels_last and moved and isinstance(moved[0], torch.Tensor) and moved[0].dim() == 4:
        moved[0] = moved[0].contiguous(memory_format=torch.channels_last)
    return type(batch)(moved)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """`torch.autocast` on `device` in `dtype`, or nothing when dtype is None."""
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def flip_tta(model: nn.Module, x: torch.Tensor, preds: torch.Tensor, reconstructs: bool) -> torch.Tensor:
    """The mean of `preds` (the model's output for `x`) and its output for the mirror images; a reconstruction of
    a mirror image is mirrored back first."""
    mirrored = model(x.flip(-1))
    if reconstructs:
        mirrored = mirrored.flip(-1)
    return (preds + mirrored) / 2
