"""Turn a composed config into the run's objects: the model, the optimizer, and every callback, assembled in one place."""

from __future__ import annotations

from collections.abc import Callable

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from minitrain.callbacks import (AutocastCallback, DeviceCallback, DivergenceCallback, FlipTTACallback,
                                 GradClipCallback, InterruptCallback, MetricsCallback, MixedPrecisionCallback)
from minitrain.callbacks.anomaly import AnomalyCallback
from minitrain.callbacks.early_stop import EarlyStoppingCallback
from minitrain.errors import ConfigError, MinitrainError
from minitrain.learner import Callback


def build(what: str, node):
    """Instantiate a config node, turning Hydra's instantiation errors into a ConfigError naming the key."""
    try:
        return instantiate(node)
    except InstantiationException as e:
        if isinstance(e.__cause__, MinitrainError):  # the object's own message (e.g. a missing extra) says it best
            raise e.__cause__ from None
        raise ConfigError(f"Cannot build {what} from its config ({node.get('_target_')}): {e}") from None


def build_model(cfg: DictConfig) -> nn.Module:
    """The model named by `cfg._target_`, built from every key except `task` and `init` (see minitrain.models.init)."""
    node = OmegaConf.to_container(cfg, resolve=True)
    node.pop("task", None)
    node.pop("init", None)
    return build("model", node)


def optional(what: str, node: DictConfig) -> list[Callback]:
    """The callback a group's option builds, or none for an option whose `_target_` is null (`scheduler=none`)."""
    return [build(what, node)] if node._target_ else []


def named_callbacks(cfg: DictConfig, group: str = "callbacks") -> list[Callback]:
    """The callbacks named in the `callbacks` (or `logger`) mapping (an entry set to null is skipped)."""
    callbacks = []
    for name, node in cfg.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(
                f"{group}.{name} has no _target_: give the class to build, e.g. "
                f"+{group}.{name}._target_=mypkg.MyCallback"
            )
        callback = build(f"{group}.{name}", node)
        if not isinstance(callback, Callback) and not any(e.startswith(("before_", "after_", "cleanup_")) for e in dir(callback)):
            raise ConfigError(
                f"{group}.{name} built a {type(callback).__name__}, which answers no Learner event: give a class "
                "with methods such as after_epoch(self, learn) (see minitrain.learner.Callback)."
            )
        callbacks.append(callback)
    return callbacks


PRECISION: dict[str, Callable[[], list[Callback]]] = {
    "fp32": lambda: [],
    "bf16": lambda: [AutocastCallback(torch.bfloat16)],
    "fp16": lambda: [MixedPrecisionCallback()],
}

# Every callback of a run, one line per source; each returns a list (empty when its option is off). The order
# here is only the tie-break: the Learner sorts callbacks by their `order` (minitrain.learner.Order).
CALLBACK_GROUPS: dict[str, Callable[[DictConfig, torch.device], list[Callback]]] = {
    "core": lambda cfg, device: [InterruptCallback(), DeviceCallback(device, channels_last=cfg.trainer.channels_last),
                                 MetricsCallback(), DivergenceCallback()],
    "scheduler": lambda cfg, device: [] if cfg.lr_find else optional("scheduler", cfg.scheduler),  # the finder sets the lr
    "augment": lambda cfg, device: optional("augment", cfg.augment),
    "inspect": lambda cfg, device: optional("inspect", cfg.inspect),  # activation statistics (inspect=activations)
    "precision": lambda cfg, device: PRECISION[cfg.trainer.precision](),
    "grad_clip": lambda cfg, device: [] if cfg.trainer.grad_clip is None else [GradClipCallback(cfg.trainer.grad_clip)],
    "tta_flip": lambda cfg, device: [FlipTTACallback()] if cfg.trainer.tta_flip else [],
    "early_stop": lambda cfg, device: [] if cfg.trainer.early_stop_patience is None else
                  [EarlyStoppingCallback(cfg.trainer.early_stop_patience, str(cfg.model.task))],
    "anomaly": lambda cfg, device: [AnomalyCallback()] if cfg.trainer.detect_anomaly else [],
    "callbacks": lambda cfg, device: named_callbacks(cfg.callbacks),  # progress, files, images, checkpoint, summary, yours
    "logger": lambda cfg, device: named_callbacks(cfg.logger, "logger"),  # csv, tensorboard, mlflow, wandb
}


def build_callbacks(cfg: DictConfig, device: torch.device | str = "cpu") -> list[Callback]:
    """Every callback the config asks for, from every group in CALLBACK_GROUPS."""
    return [cb for make in CALLBACK_GROUPS.values() for cb in make(cfg, torch.device(device))]
