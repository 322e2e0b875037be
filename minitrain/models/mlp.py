"""A multi-layer perceptron classifier: flatten, linear, ReLU, linear."""

from torch import nn


class MLP(nn.Sequential):
    """Takes in_channels x image_size x image_size images, flattened."""

    def __init__(self, image_size: int = 28, hidden: int = 50, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
