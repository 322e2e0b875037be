"""Learner callbacks: each is one small class answering a few events (see minitrain.learner)."""

from minitrain.callbacks.augment import AugmentCallback, FlipTTACallback
from minitrain.callbacks.checkpoint import CheckpointCallback
from minitrain.callbacks.clip import GradClipCallback
from minitrain.callbacks.precision import AutocastCallback, MixedPrecisionCallback
from minitrain.callbacks.device import DeviceCallback
from minitrain.callbacks.divergence import DivergenceCallback
from minitrain.callbacks.files import CSVLoggerCallback, LossPlotCallback, SummaryCallback
from minitrain.callbacks.images import ImagesCallback
from minitrain.callbacks.interrupt import InterruptCallback
from minitrain.callbacks.lr_find import LRFinderCallback
from minitrain.callbacks.metrics import MetricsCallback
from minitrain.callbacks.progress import ProgressCallback
from minitrain.callbacks.schedule import CosineCallback, OneCycleCallback

__all__ = [
    "AugmentCallback",
    "AutocastCallback",
    "CSVLoggerCallback",
    "CheckpointCallback",
    "CosineCallback",
    "DeviceCallback",
    "DivergenceCallback",
    "FlipTTACallback",
    "GradClipCallback",
    "ImagesCallback",
    "InterruptCallback",
    "LRFinderCallback",
    "LossPlotCallback",
    "MetricsCallback",
    "MixedPrecisionCallback",
    "OneCycleCallback",
    "ProgressCallback",
    "SummaryCallback",
]
