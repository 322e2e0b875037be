"""Pixels to model inputs: per-channel statistics of a split, and the one conversion every path uses."""

from __future__ import annotations

import torch

from minitrain.data.pixels import Stats, channel_stats, input_stats, to_input


def test_channel_stats_are_each_channels_mean_and_std_in_unit_range():
    images = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    images[:, 0] = 255  # channel 0 all white: mean 1, no spread
    images[::2, 1] = 255  # channel 1 half white: mean 0.5, std 0.5
    stats = channel_stats(images, chunk=3)  # chunks must add up to the whole
    assert torch.allclose(stats.mean, torch.tensor([1.0, 0.5, 0.0]))
    assert torch.allclose(stats.std, torch.tensor([1e-3, 0.5, 1e-3]))  # flat channels never divide by zero


def test_normalised_inputs_have_zero_mean_and_unit_std_per_channel():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    images[:, 2] //= 4  # a dark channel
    x = to_input(images, channel_stats(images))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)


def test_without_stats_inputs_are_pixels_in_zero_one():
    images = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    assert to_input(images).tolist() == [[[[0.0, 1.0]]]]


def test_only_classifier_inputs_are_normalised():
    stats = Stats(torch.zeros(1), torch.ones(1))
    assert input_stats(stats, "labels") is stats
    assert input_stats(stats, "images") is None  # an autoencoder reproduces pixels in [0, 1]
