"""Gradient clipping: before each step the gradients' global norm is at most `trainer.grad_clip`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import GradClipCallback
from minitrain.learner import Callback, DataLoaders, Learner


class GradNorms(Callback):
    """The global gradient norm each optimizer step is about to use."""

    order = 1  # after the clipping (order 0)

    def __init__(self) -> None:
        self.norms = []

    def before_step(self, learn):
        self.norms.append(torch.cat([p.grad.flatten() for p in learn.model.parameters()]).norm().item())


def grad_norms(*callbacks: Callback) -> list[float]:
    g = torch.Generator().manual_seed(0)
    batches = [(100 * torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)) for _ in range(4)]
    torch.manual_seed(0)
    norms = GradNorms()
    learn = Learner(nn.Linear(5, 3), DataLoaders(batches, batches), F.cross_entropy, 1e-3,
                    [*callbacks, norms])
    learn.fit(1)
    return norms.norms


def test_gradient_clipping_bounds_the_global_gradient_norm_at_every_step():
    assert max(grad_norms()) > 1.0  # large inputs: large gradients
    assert max(grad_norms(GradClipCallback(max_norm=0.5))) <= 0.5 + 1e-5


def test_gradients_already_under_the_bound_are_left_alone():
    unclipped = grad_norms()
    assert grad_norms(GradClipCallback(max_norm=1e6)) == unclipped
