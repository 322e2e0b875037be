"""A multi-layer perceptron classifier: flatten, linear, ReLU, linear."""

from torch import nn

from minitrain.models.activation import activation


class MLP(nn.Sequential):
    """Takes in_channels x image_size x image_size images, flattened; `act` (with leak, sub, maxv) names the
    activation (see minitrain.models.activation)."""

    def __init__(self, image_size: int = 28, hidden: int = 50, num_classes: int = 10, in_channels: int = 1,
                 act: str = "relu", leak: float | None = None, sub: float | None = None,
                 maxv: float | None = None) -> None:
        super().__init__(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            activation(act, leak, sub, maxv)(),
            nn.Linear(hidden, num_classes),
        )
