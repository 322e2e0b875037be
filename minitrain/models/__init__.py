"""The models minitrain trains; a config's `_target_` names one of these (or any nn.Module of yours)."""

from minitrain.models.autoencoder import Autoencoder
from minitrain.models.cnn import CNN
from minitrain.models.mlp import MLP
from minitrain.models.resnet import ResNet

__all__ = ["MLP", "CNN", "ResNet", "Autoencoder"]  # the model classes

# model config keys that are not the class's arguments: what the model learns (minitrain.tasks) and how its weights
# start (minitrain.models.init, applied after it is built)
CONFIG_ONLY = ("task", "init")
