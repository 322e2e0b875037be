"""The ResNet: class logits for 28x28 images, stages that halve the image, blocks that start as the identity,
and an initialisation that lets a few plain SGD steps make progress."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.models import ResNet
from minitrain.models.resnet import ResBlock

X = torch.rand(6, 1, 28, 28)


def test_resnet_gives_one_logit_per_class():
    assert ResNet()(X).shape == (6, 10)
    assert ResNet(channels=[8, 16], depth=2, num_classes=3)(X).shape == (6, 3)


def test_each_stage_halves_the_image_and_has_depth_blocks():
    model = ResNet(channels=[8, 16, 32], depth=2)
    shapes = []
    for block in (m for m in model.modules() if isinstance(m, ResBlock)):
        block.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
    model(X)
    assert shapes == [(8, 14, 14), (8, 14, 14), (16, 7, 7), (16, 7, 7), (32, 4, 4), (32, 4, 4)]


def test_a_fresh_residual_block_is_the_identity_on_non_negative_inputs():
    block = ResBlock(8, 8).train()
    x = torch.rand(4, 8, 7, 7)  # what a ReLU hands the next block
    assert torch.equal(block(x), x)


def test_convs_are_kaiming_initialised_and_have_no_bias():
    convs = [m for m in ResNet(channels=[32, 64]).modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None for c in convs)
    last = next(c.weight for c in convs if c.weight.shape == (64, 64, 3, 3))  # fan_out = 64 * 3 * 3
    assert last.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.1)


def test_a_few_sgd_steps_on_a_tiny_batch_reduce_the_loss_from_the_first_step():
    torch.manual_seed(0)
    model = ResNet(channels=[8, 16], depth=1)
    y = torch.arange(20) % 10
    x = 0.1 * torch.rand(20, 1, 28, 28)
    for i, k in enumerate(y):
        x[i, 0, :, : 2 * (k + 1) : 2] += 1  # class k: k + 1 vertical lines
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(model(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert losses[1] < losses[0]
    assert losses[-1] < losses[0] - 0.1
    assert all(b < a for a, b in zip(losses[3:], losses[4:]))


def test_a_resnet_needs_a_stage_and_a_depth_of_at_least_one():
    with pytest.raises(ValueError, match="depth"):
        ResNet(channels=[8], depth=0)
    with pytest.raises(ValueError, match="stage"):
        ResNet(channels=[])


@pytest.mark.parametrize("size", [23, 32])
def test_the_resnet_takes_colour_images_of_any_size(size):
    model = ResNet(channels=[8, 16], num_classes=4, in_channels=3)
    assert model(torch.rand(2, 3, size, size)).shape == (2, 4)
    assert model[0][0].in_channels == 3


def test_the_strided_shortcut_conv_computes_what_a_strided_1x1_conv_computes():
    from minitrain.models.layers import StridedPointwiseConv

    torch.manual_seed(0)
    ours = StridedPointwiseConv(4, 8, 1, stride=2, bias=False)
    reference = nn.Conv2d(4, 8, 1, stride=2, bias=False)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 7, 7, requires_grad=True)
    torch.testing.assert_close(ours(x), reference(x))
    (grad_ours,) = torch.autograd.grad(ours(x).square().sum(), x)
    (grad_reference,) = torch.autograd.grad(reference(x).square().sum(), x)
    torch.testing.assert_close(grad_ours, grad_reference)


def test_a_narrow_resnet_trains_on_channels_last_colour_images():
    """torch 2.13's own strided 1x1 conv corrupted the heap here on CPUs without AVX-512 (the process died)."""
    torch.manual_seed(0)
    model = ResNet(channels=[4, 8], depth=1, in_channels=3).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        model(x).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
