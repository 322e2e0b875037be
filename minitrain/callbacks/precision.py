"""Mixed precision: the forward pass and the loss in bfloat16 or float16 autocast; float16 adds a grad scaler."""

from __future__ import annotations

import logging

import torch

from minitrain.device import has_native_bf16
from minitrain.events import Callback, Order
from minitrain.forward import autocast

log = logging.getLogger(__name__)


class AutocastCallback(Callback):
    """Wraps predict and loss in `torch.autocast(dtype)`; weights and optimizer stay in float32.

    bfloat16 has float32's range, so it needs no loss scaling (unlike float16: see MixedPrecisionCallback).
    """

    order = Order.PRECISION

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        self.dtype = dtype
        self.context = None

    def before_fit(self, learn) -> None:
        device = next(learn.model.parameters()).device
        if self.dtype == torch.bfloat16 and not has_native_bf16(device):
            faster = "fp32" if device.type == "cpu" else "fp16 (or fp32)"
            log.warning("trainer.precision=bf16 on a %s without native bfloat16: PyTorch emulates it, which is "
                        "usually slower. Set trainer.precision=%s for speed.", device.type.upper(), faster)

    def before_predict(self, learn) -> None:
        self.context = autocast(next(learn.model.parameters()).device, self.dtype)
        self.context.__enter__()

    def after_loss(self, learn) -> None:
        self._exit()

    def cleanup_batch(self, learn) -> None:
        self._exit()  # a batch cancelled between predict and loss still leaves autocast

    def _exit(self) -> None:
        if self.context is not None:
            self.context.__exit__(None, None, None)
            self.context = None


class MixedPrecisionCallback(AutocastCallback):
    """float16 autocast, and the backward and step steps taken over by a `torch.amp.GradScaler`: the loss is
    scaled up so that small float16 gradients do not flush to zero, and a step whose gradients overflowed is
    skipped while the scale shrinks. Gradients are unscaled after backward, so clipping sees their true norm.
    """

    def __init__(self) -> None:
        super().__init__(torch.float16)
        self.scaler: torch.amp.GradScaler | None = None

    def before_fit(self, learn) -> None:
        super().before_fit(learn)
        self.scaler = torch.amp.GradScaler(next(learn.model.parameters()).device.type)

    def backward(self, learn) -> None:
        self.scaler.scale(learn.loss).backward()

    def after_backward(self, learn) -> None:
        self.scaler.unscale_(learn.opt)

    def step(self, learn) -> None:
        self.scaler.step(learn.opt)
        self.scaler.update()

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scaler.load_state_dict(state)
