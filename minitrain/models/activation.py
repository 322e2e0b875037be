"""The activation a built-in model uses after its hidden layers: ReLU, or the course's GeneralRelu."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "general_relu")  # the values of `model.act`


class GeneralRelu(nn.Module):
    """The course's GeneralRelu: leaky ReLU with slope `leak` (plain ReLU when None), shifted down by `sub`,
    clamped at `maxv` (each skipped when None). A shift makes the mean of a layer's outputs nearer zero."""

    def __init__(self, leak: float | None = None, sub: float | None = None, maxv: float | None = None) -> None:
        super().__init__()
        self.leak, self.sub, self.maxv = leak, sub, maxv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The activation of `x`."""
        x = F.leaky_relu(x, self.leak) if self.leak is not None else F.relu(x)
        if self.sub is not None:
            x = x - self.sub
        if self.maxv is not None:
            x = x.clamp(max=self.maxv)
        return x

    def extra_repr(self) -> str:
        return f"leak={self.leak}, sub={self.sub}, maxv={self.maxv}"


def activation(act: str = "relu", leak: float | None = None, sub: float | None = None,
               maxv: float | None = None) -> Callable[[], nn.Module]:
    """A maker of the activation `act` names: `relu` (leak, sub and maxv unused) or `general_relu`."""
    if act == "relu":
        return nn.ReLU
    if act == "general_relu":
        return partial(GeneralRelu, leak, sub, maxv)
    raise ValueError(f"model.act={act} must be one of {', '.join(ACTIVATIONS)}")
