"""Learner callbacks: each is one small class answering a few events (see minitrain.learner)."""

from minitrain.callbacks.checkpoint import CheckpointCallback
from minitrain.callbacks.device import DeviceCallback
from minitrain.callbacks.divergence import DivergenceCallback
from minitrain.callbacks.files import CSVLoggerCallback, LossPlotCallback, SummaryCallback
from minitrain.callbacks.images import ImagesCallback
from minitrain.callbacks.metrics import MetricsCallback
from minitrain.callbacks.progress import ProgressCallback

__all__ = [
    "CSVLoggerCallback",
    "CheckpointCallback",
    "DeviceCallback",
    "DivergenceCallback",
    "ImagesCallback",
    "LossPlotCallback",
    "MetricsCallback",
    "ProgressCallback",
    "SummaryCallback",
]
