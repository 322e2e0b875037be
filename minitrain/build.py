"""Turn the user's composed config into the run's objects: the model, the optimizer, and every callback, in one place.

What is built here comes from the user's own command line and config folders. A config read back from a
file (a checkpoint's) is never instantiated here: minitrain.checkpoint.build_model builds it from plain values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from minitrain.callbacks import (AutocastCallback, DeviceCallback, DivergenceCallback, FlipTTACallback,
                                 GradClipCallback, InterruptCallback, MetricsCallback, MixedPrecisionCallback)
from minitrain.callbacks.anomaly import AnomalyCallback
from minitrain.callbacks.early_stop import EarlyStoppingCallback
from minitrain.callbacks.ema import EMACallback
from minitrain.callbacks.trial import TrialCallback
from minitrain.errors import ConfigError, MinitrainError
from minitrain.config import Precision
from minitrain.forward import resolve_precision
from minitrain.events import Callback
from minitrain.models import CONFIG_ONLY
from minitrain.user_code import import_problem


def build(what: str, node, **given: Any):
    """Instantiate a config node, turning Hydra's instantiation errors into a ConfigError naming the key.

    `given` keyword arguments are passed as they are (Hydra would instantiate a `_target_` inside them)."""
    try:
        return instantiate(node, _partial_=True)(**given) if given else instantiate(node)
    except InstantiationException as e:
        if isinstance(e.__cause__, MinitrainError):  # the object's own message (e.g. a missing extra) says it best
            raise e.__cause__ from None
        if problem := import_problem(str(node.get("_target_")), e):  # where minitrain looked, and what to set
            raise ConfigError(f"Cannot build {what}: {problem}.") from None
        raise ConfigError(f"Cannot build {what} from its config ({node.get('_target_')}): {e}") from None


def build_model(cfg: DictConfig) -> nn.Module:
    """The model named by `cfg._target_`, built from every key except `task` and `init` (see minitrain.models.init)."""
    node = OmegaConf.to_container(cfg, resolve=True)
    for key in CONFIG_ONLY:
        node.pop(key, None)
    return build("model", node)


def optional(what: str, node: DictConfig) -> list[Callback]:
    """The callback a group's option builds, or none for an option whose `_target_` is null (`scheduler=none`)."""
    return [build(what, node)] if node._target_ else []


def takes_run_config(target: str) -> bool:
    """Whether the class `target` names takes `run_config`, the run's composed config as plain data (the checkpoint
    callback stores it in every checkpoint); an unimportable target is left to `build` to report."""
    try:
        return "run_config" in inspect.signature(get_class(target)).parameters
    except Exception:
        return False


def named_callbacks(cfg: DictConfig, group: str = "callbacks", run_config: dict | None = None) -> list[Callback]:
    """The callbacks named in the `callbacks` (or `logger`) mapping (an entry set to null is skipped). A callback
    whose constructor takes `run_config` receives it there."""
    callbacks = []
    for name, node in cfg.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(
                f"{group}.{name} has no _target_: give the class to build, e.g. "
                f"+{group}.{name}._target_=mypkg.MyCallback"
            )
        given = {"run_config": run_config} if run_config is not None and takes_run_config(node._target_) else {}
        callback = build(f"{group}.{name}", node, **given)
        if not isinstance(callback, Callback) and not any(e.startswith(("before_", "after_", "cleanup_")) for e in dir(callback)):
            raise ConfigError(
                f"{group}.{name} built a {type(callback).__name__}, which answers no Learner event: give a class "
                "with methods such as after_epoch(self, learn) (see minitrain.learner.Callback)."
            )
        callbacks.append(callback)
    return callbacks


PRECISION: dict[Precision, Callable[[], list[Callback]]] = {
    Precision.fp32: lambda: [],
    Precision.bf16: lambda: [AutocastCallback(torch.bfloat16)],
    Precision.fp16: lambda: [MixedPrecisionCallback()],
}

# Every callback of a run, one line per source; each returns a list (empty when its option is off). The order
# here is only the tie-break: the Learner sorts callbacks by their `order` (minitrain.learner.Order).
@dataclass(frozen=True)
class RunContext:
    """What callbacks are built with beside the config: the training device, the composed config as plain data,
    and the trial of a hyper-parameter search that this run is (None outside one)."""

    device: torch.device
    config: dict | None = None
    trial: Any = None


CALLBACK_GROUPS: dict[str, Callable[[DictConfig, RunContext], list[Callback]]] = {
    "core": lambda cfg, run: [InterruptCallback(), DeviceCallback(run.device, channels_last=cfg.trainer.channels_last),
                              MetricsCallback(), DivergenceCallback()],
    "scheduler": lambda cfg, run: [] if cfg.lr_find else optional("scheduler", cfg.scheduler),  # the finder sets the lr
    "augment": lambda cfg, run: optional("augment", cfg.augment),
    "inspect": lambda cfg, run: optional("inspect", cfg.inspect),  # activation statistics (inspect=activations)
    "precision": lambda cfg, run: PRECISION[resolve_precision(cfg.trainer.precision, run.device)](),  # auto: bf16 where native
    "grad_clip": lambda cfg, run: [] if cfg.trainer.grad_clip is None else [GradClipCallback(cfg.trainer.grad_clip)],
    "tta_flip": lambda cfg, run: [FlipTTACallback()] if cfg.trainer.tta_flip else [],
    "ema": lambda cfg, run: [] if cfg.trainer.ema is None else [EMACallback(cfg.trainer.ema)],
    "early_stop": lambda cfg, run: [] if cfg.trainer.early_stop_patience is None else
                  [EarlyStoppingCallback(cfg.trainer.early_stop_patience, str(cfg.model.task))],
    "anomaly": lambda cfg, run: [AnomalyCallback()] if cfg.trainer.detect_anomaly else [],
    "trial": lambda cfg, run: [] if run.trial is None else  # report each epoch to a search; pruned: stop
             [TrialCallback(run.trial, str(cfg.model.task), cfg.optimized_metric)],
    "callbacks": lambda cfg, run: named_callbacks(cfg.callbacks, run_config=run.config),  # progress, files, images, checkpoint, summary, yours
    "logger": lambda cfg, run: named_callbacks(cfg.logger, "logger", run.config),  # csv, tensorboard, mlflow, wandb
}


def build_callbacks(cfg: DictConfig, device: torch.device | str = "cpu", run_config: dict | None = None,
                    trial: Any = None) -> list[Callback]:
    """Every callback the config asks for, from every group in CALLBACK_GROUPS; `run_config` (the composed config
    as plain data) goes to those that store it, `trial` (a search's trial: minitrain.callbacks.trial) to its reporter."""
    run = RunContext(torch.device(device), run_config, trial)
    return [cb for make in CALLBACK_GROUPS.values() for cb in make(cfg, run)]
