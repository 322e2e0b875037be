"""minitrain.hooks: forward hooks that record what a layer outputs, registered together and removed together."""

from __future__ import annotations

import torch
from torch import nn

from minitrain.hooks import Hook, Hooks, layers_of


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def keep_shape(hook, module, inputs, output):
    hook.shapes = [*getattr(hook, "shapes", []), tuple(output.shape)]


def test_a_hook_sees_every_forward_pass_of_its_module_until_removed():
    net = model()
    hook = Hook(net[0], keep_shape)
    net(torch.zeros(2, 1, 8, 8))
    net(torch.zeros(5, 1, 8, 8))
    hook.remove()
    net(torch.zeros(1, 1, 8, 8))
    assert hook.shapes == [(2, 4, 6, 6), (5, 4, 6, 6)] and not net[0]._forward_hooks


def test_hooks_as_a_context_manager_leave_no_hook_behind_even_when_the_block_fails():
    net = model()
    try:
        with Hooks([m for _, m in layers_of(net, (nn.Conv2d, nn.Linear))], keep_shape) as hooks:
            net(torch.zeros(2, 1, 8, 8))
            raise RuntimeError("the block fails")
    except RuntimeError:
        pass
    assert [h.shapes for h in hooks] == [[(2, 4, 6, 6)], [(2, 3)]]
    assert all(not m._forward_hooks for m in net.modules())


def test_layers_of_names_the_layers_of_the_given_types_in_order():
    assert [(name, type(m).__name__) for name, m in layers_of(model(), (nn.Conv2d, nn.Linear))] == \
        [("0", "Conv2d"), ("3", "Linear")]
