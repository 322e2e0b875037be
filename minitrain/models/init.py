"""How a built-in model's weights start (`model.init`): as built, Kaiming normal, or LSUV on one batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from minitrain.hooks import Hook, layers_of

INITS = ("default", "kaiming", "lsuv")  # the values of `model.init`
WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)  # the layers an init sets


def kaiming_init(model: nn.Module, leak: float | None = None) -> None:
    """Kaiming-normal weights for every conv and linear layer, for a (leaky) ReLU of slope `leak` (the course's
    init_weights); biases are left as they are."""
    for _, layer in layers_of(model, WEIGHTED):
        nn.init.kaiming_normal_(layer.weight, a=leak or 0.0)


def _keep_stats(hook: Hook, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
    hook.std, hook.mean = (v.item() for v in torch.std_mean(output.detach().float()))


@torch.no_grad()
def lsuv_init(model: nn.Module, xb: torch.Tensor, tol: float = 1e-3, max_iters: int = 20) -> None:
    """Layer-sequential unit variance (the course's lsuv_init), layer by layer from the input: run the model on
    `xb`, then shift the layer's bias by its output's mean and divide its weights by the output's std, until its
    output has mean 0 and std 1 (within `tol`; a layer without a bias only gets the std). The output measured is
    the layer's own, before its activation, so that a plain ReLU works too."""
    was_training = model.training
    model.eval()  # BatchNorm's running statistics stay as they are
    try:
        for _, layer in layers_of(model, WEIGHTED):
            with Hook(layer, _keep_stats) as hook:
                for _ in range(max_iters):
                    model(xb)
                    centred = layer.bias is None or abs(hook.mean) < tol
                    if (abs(hook.std - 1) < tol and centred) or hook.std == 0:
                        break
                    if layer.bias is not None:
                        layer.bias -= hook.mean
                    layer.weight /= hook.std
    finally:
        model.train(was_training)


def initialize(model: nn.Module, init: str = "default", dls: Any = None, leak: float | None = None) -> None:
    """Set `model`'s weights as `init` says: `default` keeps the model's own, `kaiming` (for activation slope
    `leak`), or `lsuv` on the first training batch of `dls`, on the model's device."""
    if init == "kaiming":
        kaiming_init(model, leak)
    elif init == "lsuv":
        device = next(model.parameters()).device
        lsuv_init(model, next(iter(dls.train))[0].to(device))
    elif init != "default":
        raise ValueError(f"model.init={init} must be one of {', '.join(INITS)}")


def initialize_as_configured(model: nn.Module, model_cfg: Mapping, dls: Any) -> None:
    """Apply a model config's `init` (a config without one, such as a user's own model's, keeps the model's init);
    Kaiming's slope is `leak` when `act` is general_relu."""
    leak = model_cfg.get("leak") if str(model_cfg.get("act", "relu")) == "general_relu" else None
    initialize(model, str(model_cfg.get("init", "default")), dls, leak)
