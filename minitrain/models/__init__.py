"""The models minitrain trains; a config's `_target_` names one of these (or any nn.Module of yours)."""

from minitrain.models.autoencoder import Autoencoder
from minitrain.models.cnn import CNN
from minitrain.models.mlp import MLP

__all__ = ["MLP", "CNN", "Autoencoder"]
