"""Run the forward pass and the loss in bfloat16 autocast: less memory traffic, same code."""

from __future__ import annotations

import torch

from minitrain.learner import Callback


class AutocastCallback(Callback):
    """Wraps predict and loss in `torch.autocast(dtype)`; weights and optimizer stay in float32.

    bfloat16 has float32's range, so it needs no loss scaling (unlike float16).
    """

    order = -15  # inside the device move (-20), before anything reads predictions

    def __init__(self, dtype: torch.dtype = torch.bfloat16) -> None:
        self.dtype = dtype
        self.context = None

    def before_predict(self, learn) -> None:
        device_type = next(learn.model.parameters()).device.type
        self.context = torch.autocast(device_type=device_type, dtype=self.dtype)
        self.context.__enter__()

    def after_loss(self, learn) -> None:
        self._exit()

    def cleanup_batch(self, learn) -> None:
        self._exit()  # a batch cancelled between predict and loss still leaves autocast

    def _exit(self) -> None:
        if self.context is not None:
            self.context.__exit__(None, None, None)
            self.context = None
