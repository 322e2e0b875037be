"""An exponential moving average of the weights (trainer.ema): validation, checkpoints, eval and export use it."""

from __future__ import annotations

import torch

from minitrain.distributed import unwrap
from minitrain.events import Callback, Order


class EMACallback(Callback):
    """Keeps `average = decay * average + (1 - decay) * weights` after every optimizer step, and trains on the
    weights while validating on the average.

    At the end of each training pass the model takes the averaged weights (BatchNorm's running statistics
    included), so validation, the checkpoint's `model` (what eval, predict and export load) and the model left
    after `fit` are the average; the training weights wait in this callback's state, which the checkpoint stores,
    so a resumed run continues with both exactly. The next training pass swaps them back.

    The decay warms up as `min(decay, (1 + n) / (10 + n))` after n steps (as timm's ModelEma does), so the first
    steps' random weights fade within a few hundred steps instead of weighing on a short run.
    """

    order = Order.RECIPE  # swaps before the reporters and the checkpoint read the model; updates after each step

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the EMA decay must lie between 0 and 1, got {decay}")
        self.decay = decay
        self.updates = 0
        self.average: list[torch.Tensor] | None = None           # set while training
        self.training_weights: list[torch.Tensor] | None = None  # set while the model holds the average

    def _model_tensors(self, learn) -> list[torch.Tensor]:
        return list(unwrap(learn.model).state_dict().values())  # views of the parameters and buffers

    def before_epoch(self, learn) -> None:
        if not learn.training:
            return
        model = self._model_tensors(learn)
        # the average starts from what the model holds: the weights on a first pass, else the average itself
        # (swapped in at the last pass's end, or restored from a checkpoint on resume)
        self.average = [t.detach().clone() for t in model]
        if self.training_weights is not None:
            for weight, saved in zip(model, self.training_weights):
                weight.copy_(saved)
            self.training_weights = None

    def after_step(self, learn) -> None:
        if self.average is None:
            return
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            pairs = [(a, w) for a, w in zip(self.average, self._model_tensors(learn)) if a.is_floating_point()]
            if pairs:
                averages, weights = zip(*pairs)
                torch._foreach_lerp_(list(averages), list(weights), 1.0 - decay)

    def after_epoch(self, learn) -> None:
        if not learn.training or self.average is None:
            return
        model = self._model_tensors(learn)
        self.training_weights = [t.detach().clone() for t in model]
        for weight, average in zip(model, self.average):
            if average.is_floating_point():
                weight.copy_(average)  # integer buffers (BatchNorm's batch count) keep their own value
        self.average = None

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "training_weights": self.training_weights}

    def load_state_dict(self, state: dict) -> None:
        self.updates = state["updates"]
        self.training_weights = state["training_weights"]
