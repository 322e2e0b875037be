"""The models' shapes: class logits from MLP and CNN, 28x28 images in [0, 1] back from the autoencoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minitrain.models import CNN, MLP, Autoencoder

X = torch.rand(5, 1, 28, 28)


def conv_output_shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for m in model.modules()
             if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return shapes


def test_mlp_gives_one_logit_per_class():
    assert MLP()(X).shape == (5, 10)
    assert MLP(image_size=28, hidden=7, num_classes=3)(X).shape == (5, 3)


def test_mlp_hidden_width_is_configurable():
    linears = [m for m in MLP(hidden=13).modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 13), (13, 10)]


def test_cnn_gives_one_logit_per_class():
    assert CNN()(X).shape == (5, 10)
    assert CNN(channels=[8, 8, 8, 8], num_classes=4)(X).shape == (5, 4)


def test_cnn_halves_the_image_down_to_one_pixel():
    shapes = conv_output_shapes(CNN(), X)
    assert [s[2:] for s in shapes] == [(14, 14), (7, 7), (4, 4), (2, 2), (1, 1)]
    assert [s[1] for s in shapes] == [4, 8, 16, 16, 10]


def test_cnn_with_batch_norm_normalises_each_hidden_conv_and_drops_its_bias():
    model = CNN(channels=[8, 16, 32, 64], batch_norm=True)
    norms = [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert norms == [8, 16, 32, 64]  # none after the last conv: it outputs the logits
    assert [m.bias is None for m in convs] == [True, True, True, True, False]
    assert model(X).shape == (5, 10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in CNN().modules())  # the lesson's net has none


def test_cnn_stem_sees_the_full_size_image_with_a_bias_and_no_batch_norm():
    model = CNN(channels=[8, 16, 32, 64], batch_norm=True, stem=6)
    shapes = conv_output_shapes(model, X)
    assert [s[2:] for s in shapes] == [(28, 28), (14, 14), (7, 7), (4, 4), (2, 2), (1, 1)]
    assert [s[1] for s in shapes] == [6, 8, 16, 32, 64, 10]
    assert [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)] == [8, 16, 32, 64]
    assert model[0][0].bias is not None and isinstance(model[0][1], nn.ReLU)
    assert model(X).shape == (5, 10)
    with pytest.raises(ValueError, match="stem width must be 0"):
        CNN(stem=-1)


@pytest.mark.parametrize("channels", [(2, 4, 8), (16, 32, 8)], ids=["default", "wider"])
def test_autoencoder_returns_images_of_the_input_shape_in_zero_one(channels):
    model = Autoencoder(channels)
    with torch.no_grad():
        out = model(X)
    assert out.shape == X.shape
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("channels", [(2, 4, 8), (16, 32, 8)], ids=["default", "wider"])
def test_autoencoder_squeezes_the_image_to_a_4x4_latent(channels):
    shapes = conv_output_shapes(Autoencoder(channels), X)
    assert shapes[2] == (5, channels[-1], 4, 4)
    assert [s[2:] for s in shapes] == [(16, 16), (8, 8), (4, 4), (8, 8), (16, 16), (32, 32)]


def test_autoencoder_needs_exactly_three_widths():
    with pytest.raises(ValueError, match="three widths"):
        Autoencoder([4, 8])


@pytest.mark.parametrize("model", [MLP(), CNN(), Autoencoder()], ids=["mlp", "cnn", "autoencoder"])
def test_every_model_is_trainable_end_to_end(model):
    out = model(X)
    out.float().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("size", [23, 32, 37, 64])
@pytest.mark.parametrize("in_channels", [1, 3])
def test_every_model_takes_images_of_any_channel_count_and_size(in_channels, size):
    x = torch.rand(2, in_channels, size, size)
    for model in (MLP(image_size=size, in_channels=in_channels, num_classes=7),
                  CNN(in_channels=in_channels, num_classes=7), CNN(in_channels=in_channels, num_classes=7, batch_norm=True)):
        assert model(x).shape == (2, 7)
    out = Autoencoder((4, 8, 8), in_channels=in_channels, image_size=size)(x)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("size, latent", [(28, 4), (32, 4), (37, 5), (17, 3)])
def test_autoencoder_pads_to_a_multiple_of_eight_and_crops_back(size, latent):
    x = torch.rand(1, 3, size, size)
    shapes = conv_output_shapes(Autoencoder((4, 8, 8), in_channels=3, image_size=size), x)
    assert shapes[2][2:] == (latent, latent) and shapes[-1][1:] == (3, 8 * latent, 8 * latent)


def test_the_lesson_models_keep_their_parameters_for_28x28_grey_images():
    """Checkpoints of the lesson's models still load: taking the shape from the data added no parameter."""
    assert sum(p.numel() for p in Autoencoder((2, 4, 8)).parameters()) == 777  # the lesson's count
    assert [k for k in CNN().state_dict()][-2:] == ["4.0.weight", "4.0.bias"]


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "bias", "channels_last"), [
    ((2, 2), 3, 2, 1, True, True),     # the lesson's CNN's last conv on 28x28 images: the fast path
    ((2, 2), 3, 2, 1, False, False),   # no bias
    ((1, 1), 3, 2, 1, True, False),    # a one-pixel image meets the centre tap only
    ((3, 3), 5, 2, 1, True, True),     # a wider kernel over a 3x3 image
    ((3, 3), 3, 3, 1, True, False),    # the window misses the image's last row and column
    ((3, 4), 3, 2, 0, True, True),     # no padding, a non-square image
    ((2, 2), (3, 2), 1, (1, 0), True, False),  # a non-square kernel and padding, stride 1
    ((4, 4), 3, 2, 1, True, True),     # a 2x2 output: nn.Conv2d's own path
])
def test_the_one_pixel_conv_computes_what_a_conv_computes(size, kernel, stride, padding, bias, channels_last):
    from minitrain.models.layers import OnePixelConv

    assert_computes_what_a_conv_computes(OnePixelConv, size, kernel, stride, padding, bias, channels_last)


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "bias", "channels_last"), [
    ((4, 4), 3, 2, 1, False, True),    # the lesson's CNN's fourth conv with BatchNorm on 28x28 images: the fast path
    ((4, 4), 3, 2, 1, True, False),    # with a bias (no BatchNorm)
    ((3, 3), 2, 1, 0, True, True),     # stride 1, no padding: 2x2 overlapping windows
    ((4, 3), (3, 2), 2, (1, 0), False, False),  # a non-square image, kernel and padding: 2x1 pixels
    ((5, 5), 3, 3, 1, False, True),    # the windows miss the image's last row and column
    ((2, 2), 3, 2, 1, True, True),     # one pixel
    ((7, 7), 3, 2, 1, False, True),    # a 4x4 output: nn.Conv2d's own path
])
def test_the_few_pixel_conv_computes_what_a_conv_computes(size, kernel, stride, padding, bias, channels_last,
                                                         monkeypatch):
    """Its weight gradient runs in bf16 and fp16 only; in float64 here, to compare to the digit."""
    from minitrain.models import layers

    monkeypatch.setattr(layers, "REDUCED", (torch.float64,))
    assert_computes_what_a_conv_computes(layers.FewPixelConv, size, kernel, stride, padding, bias, channels_last)


def conv_and_reference(cls, *args, **kwargs) -> tuple[nn.Conv2d, nn.Conv2d]:
    """One of minitrain's conv classes and an nn.Conv2d with the same arguments and the same weights."""
    torch.manual_seed(0)
    ours = cls(*args, **kwargs)
    reference = nn.Conv2d(*args, **kwargs)
    reference.load_state_dict(ours.state_dict())
    return ours, reference


def assert_computes_what_a_conv_computes(cls, size, kernel, stride, padding, bias, channels_last):
    """The same output and the same gradients (input, weight, bias) as nn.Conv2d with the same weights."""
    ours, reference = (conv.double() for conv in
                       conv_and_reference(cls, 8, 5, kernel, stride=stride, padding=padding, bias=bias))
    x = torch.randn(3, 8, *size, dtype=torch.double)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    outputs, gradients = [], []
    for conv in (ours, reference):
        inputs = x.clone().requires_grad_()
        out = conv(inputs)
        gradients.append(torch.autograd.grad(out.square().sum(), [inputs, *conv.parameters()]))
        outputs.append(out)
    torch.testing.assert_close(outputs[0], outputs[1])
    for grad_ours, grad_reference in zip(*gradients):
        torch.testing.assert_close(grad_ours, grad_reference)


def test_the_one_pixel_conv_matches_a_conv_under_autocast_and_without_a_batch_dimension():
    from minitrain.models.layers import OnePixelConv

    ours, reference = conv_and_reference(OnePixelConv, 8, 5, 3, stride=2, padding=1)
    x = torch.randn(3, 8, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, expected = ours(x), reference(x)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, atol=0.05, rtol=0.02)
    torch.testing.assert_close(ours(x[0]), reference(x[0]))  # (C, H, W), as nn.Conv2d takes it


@pytest.mark.parametrize("bf16", [False, True], ids=["float32", "bf16"])
def test_the_lesson_cnn_computes_its_last_convs_through_the_few_and_one_pixel_paths(monkeypatch, bf16):
    """On 28x28 images the CNN's last conv sees 2x2 pixels: it never reaches nn.Conv2d's kernel. Its fourth
    outputs 2x2 pixels: in bf16 its weight gradient is a matrix product, in float32 it is nn.Conv2d's."""
    from minitrain.models import layers

    model = CNN(channels=[4, 8, 16, 16], num_classes=10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [type(conv) for conv in convs] == [nn.Conv2d] * 3 + [layers.FewPixelConv, layers.OnePixelConv]
    through_kernel, by_windows = [], []
    original = nn.Conv2d._conv_forward
    monkeypatch.setattr(nn.Conv2d, "_conv_forward",
                        lambda self, *args: through_kernel.append(self) or original(self, *args))
    apply = layers._WeightGradByWindows.apply
    monkeypatch.setattr(layers._WeightGradByWindows, "apply", lambda *args: by_windows.append(args) or apply(*args))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(torch.randn(2, 1, 28, 28))
    out.float().sum().backward()
    assert through_kernel == convs[:3 if bf16 else 4] and len(by_windows) == int(bf16)
    assert all(conv.weight.grad is not None for conv in convs)


def test_the_few_pixel_conv_matches_a_conv_under_autocast():
    from minitrain.models.layers import FewPixelConv

    ours, reference = conv_and_reference(FewPixelConv, 8, 5, 3, stride=2, padding=1, bias=False)
    x = torch.randn(3, 8, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, expected = ours(x), reference(x)
    assert out.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected, atol=0.05, rtol=0.02)
    out.float().square().sum().backward()
    expected.float().square().sum().backward()
    assert ours.weight.grad.dtype == torch.float32  # the weights stay fp32, as autocast keeps them
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad, atol=0.5, rtol=0.05)
