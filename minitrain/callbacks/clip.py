"""Clip the gradients' global norm before each optimizer step (`trainer.grad_clip`)."""

from __future__ import annotations

import torch

from minitrain.events import Callback, Order


class GradClipCallback(Callback):
    """Rescales all gradients together so that their global L2 norm is at most `max_norm`."""

    order = Order.RECIPE

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def before_step(self, learn) -> None:
        torch.nn.utils.clip_grad_norm_(learn.model.parameters(), self.max_norm)
