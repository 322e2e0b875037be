"""Values that compose but cannot train: each problem names its key and what would work.

Hydra and the schemas in minitrain/config.py catch unknown options, unknown keys and wrong types while
the config composes; what is left for here are values of the right type that still cannot train, and
keys that `+key=value` added past the schema (where a typo hides: `+trainer.epoch=3`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os

from omegaconf import DictConfig, OmegaConf

from minitrain import distributed
from minitrain.data import MAX_CLASSES
from minitrain.errors import ConfigError
from minitrain.search import metric_names
from minitrain.suggest import did_you_mean, nearest, nearest_keys
from minitrain.user_code import import_problem, locate

_SIZE_KEYS = ("hidden", "depth", "num_classes", "image_size", "in_channels")  # model keys that count something
# Optimizer and scheduler keys that torch (or minitrain's schedules) take only in a range, wherever a config has them:
# key: (whether a value is in it, the rule in words, a value that works)
_RANGES = {
    "optimizer.weight_decay": (lambda v: 0 <= v < math.inf, "must be 0 or more", "0.01"),
    "optimizer.momentum": (lambda v: 0 <= v < math.inf, "must be 0 or more", "0.9"),
    "optimizer.eps": (lambda v: 0 < v < math.inf, "must be a positive number", "1e-08"),
    "scheduler.pct_start": (lambda v: 0 < v < 1, "must be between 0 and 1 (both excluded)", "0.25"),
    "scheduler.div_factor": (lambda v: 0 < v < math.inf, "must be a positive number", "25"),
    "scheduler.final_div_factor": (lambda v: 0 < v < math.inf, "must be a positive number", "10000"),
    "scheduler.warmup_pct": (lambda v: 0 <= v < 1, "must be at least 0 and below 1", "0.05"),
    "scheduler.eta_min_ratio": (lambda v: 0 <= v < math.inf, "must be 0 or more", "0.0"),
}


def check_config(cfg: DictConfig) -> None:
    """Values that compose but cannot train: say which key and what would work."""
    problems = []
    if cfg.trainer.epochs < 1:
        problems.append(f"trainer.epochs={cfg.trainer.epochs} must be at least 1")
    if cfg.loader.batch_size < 1:
        problems.append(f"loader.batch_size={cfg.loader.batch_size} must be at least 1")
    if cfg.loader.valid_batch_size is not None and cfg.loader.valid_batch_size < 1:
        problems.append(f"loader.valid_batch_size={cfg.loader.valid_batch_size} must be at least 1 (or null)")
    lr = cfg.optimizer.get("lr")  # a user's own optimizer config may leave it out
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        problems.append(f"optimizer.lr={lr} must be a positive number, e.g. optimizer.lr=0.1")
    if not 0 <= cfg.seed < 2**64:
        problems.append(f"seed={cfg.seed} must be between 0 and 2**64 - 1 (torch's generators take 64 bits)")
    if str(cfg.loader.on_device).lower() not in ("auto", "true", "false"):
        problems.append(f"loader.on_device={cfg.loader.on_device} must be auto, true or false")
    most_workers = max(4, 2 * (os.cpu_count() or 1))
    if not 0 <= cfg.loader.num_workers <= most_workers:
        problems.append(
            f"loader.num_workers={cfg.loader.num_workers} must be between 0 and {most_workers} "
            f"(this machine has {os.cpu_count()} cores; 0 loads batches in the main process)"
        )
    valid_pct = cfg.dataset.get("valid_pct")
    if valid_pct is not None and not 0 < valid_pct < 1:
        problems.append(f"dataset.valid_pct={valid_pct} is the share of the training images held out to validate on "
                        "when the data has no validation split: between 0 and 1 (both excluded), e.g. 0.2, or null")
    if cfg.dataset.num_classes is not None and not 1 <= cfg.dataset.num_classes <= MAX_CLASSES:
        problems.append(f"dataset.num_classes={cfg.dataset.num_classes} must be between 1 and {MAX_CLASSES} "
                        "(or null: from the data)")
    problems += recipe_problems(cfg) + range_problems(cfg) + task_problems(cfg) + unknown_keys(cfg) + model_size_problems(cfg.model)
    built = {"model": cfg.model, "optimizer": cfg.optimizer, "scheduler": cfg.scheduler, "augment": cfg.augment,
             "inspect": cfg.inspect,
             **{f"{group}.{name}": node for group in ("callbacks", "logger")
                for name, node in cfg[group].items() if isinstance(node, DictConfig)}}
    for key, node in built.items():
        if node.get("_target_"):
            problems += argument_problems(key, node)
    if problems:
        raise ConfigError("Invalid config: " + "; ".join(problems) + ".")


def doubtful_settings(cfg: DictConfig) -> list[str]:
    """Settings that train, but not as the user most likely means: each says why, and what to set instead."""
    flips = bool(cfg.augment.get("_target_")) and bool(cfg.augment.get("flip"))
    if cfg.trainer.tta_flip and not flips:
        return ["trainer.tta_flip=true validates on the mean of each image and its mirror image, but the model "
                "trains without flips: a model never shown mirrored images is often wrong on them (Fashion-MNIST's "
                "shoes all face one way; fashion_fast for 6 epochs without flips scored 83.3% with flip TTA, 92.0% "
                "without). Train on flips too: augment=flip or augment=flip_crop (or drop trainer.tta_flip)."]
    return []


def recipe_problems(cfg: DictConfig) -> list[str]:
    """check_config's part for the training recipe: regularisation, augmentation, the LR finder."""
    problems = []
    smoothing = cfg.trainer.label_smoothing
    if not 0 <= smoothing < 1:
        problems.append(f"trainer.label_smoothing={smoothing} must be at least 0 and below 1, e.g. 0.1")
    elif smoothing and str(cfg.model.task) != "classification":
        problems.append(f"trainer.label_smoothing={smoothing} applies to classification only "
                        f"(model.task is {cfg.model.task})")
    if cfg.trainer.grad_clip is not None and not cfg.trainer.grad_clip > 0:
        problems.append(f"trainer.grad_clip={cfg.trainer.grad_clip} must be a positive norm, e.g. 1.0 "
                        "(or null: no clipping)")
    if cfg.trainer.ema is not None and not 0 < cfg.trainer.ema < 1:
        problems.append(f"trainer.ema={cfg.trainer.ema} is the average's decay: between 0 and 1, e.g. 0.999 "
                        "(or null: no average)")
    if cfg.augment.crop_padding < 0:
        problems.append(f"augment.crop_padding={cfg.augment.crop_padding} must be 0 (no shifts) or more")
    side = cfg.dataset.image_size  # when null, the data says it: AugmentCallback checks the padding at before_fit
    if cfg.augment.get("_target_") and side and cfg.augment.crop_padding >= side:
        problems.append(f"augment.crop_padding={cfg.augment.crop_padding} must be smaller than the images' side "
                        f"(dataset.image_size={side}), e.g. augment.crop_padding=2")
    if not 0 <= cfg.augment.erase_p <= 1:
        problems.append(f"augment.erase_p={cfg.augment.erase_p} is a probability: between 0 and 1")
    for key in ("early_stop_patience", "limit_batches"):
        if cfg.trainer[key] is not None and cfg.trainer[key] < 1:
            problems.append(f"trainer.{key}={cfg.trainer[key]} must be at least 1 (or null: off)")
    if cfg.trainer.overfit_batches < 0:
        problems.append(f"trainer.overfit_batches={cfg.trainer.overfit_batches} must be 0 (off) or more")
    if cfg.lr_find and cfg.resume:
        problems.append("lr_find=true starts from fresh weights: drop resume (or lr_find)")
    if cfg.lr_find and distributed.current().distributed:
        problems.append("lr_find=true runs in one process (each rank would stop at its own batch): "
                        "start it without torchrun")
    return problems


def range_problems(cfg: DictConfig) -> list[str]:
    """Optimizer and scheduler values outside the range torch takes (`optimizer.betas=[2,2]`, `scheduler.pct_start=2`):
    each would end in a traceback when the optimizer or the schedule is built, or train on nonsense."""
    problems = []
    betas = cfg.optimizer.get("betas")
    if betas is not None and (len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
        problems.append(f"optimizer.betas={list(betas)} must be two numbers in [0, 1), e.g. optimizer.betas=[0.9,0.999]")
    for key, (fits, rule, example) in _RANGES.items():
        group, name = key.split(".")
        value = cfg[group].get(name)  # a user's own optimizer or scheduler config may not have the key
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not fits(value):
            problems.append(f"{key}={value} {rule}, e.g. {key}={example}")
    return problems


def task_problems(cfg: DictConfig) -> list[str]:
    """The model's task (a plain string in a user's own model config) and the metric a search optimises."""
    from minitrain.tasks import TASKS

    task = str(cfg.model.task)
    if task not in TASKS:
        return [f"model.task={task} must be one of {', '.join(TASKS)}"]
    if cfg.optimized_metric is not None and cfg.optimized_metric not in metric_names(task):
        return [f"optimized_metric={cfg.optimized_metric} must be one of {', '.join(metric_names(task))} "
                "(or null: the task's best-epoch metric)"]
    return []


def unknown_keys(cfg: DictConfig, prefix: str = "", every_key: list[str] | None = None) -> list[str]:
    """Keys in a typed node (one with a schema) that its schema does not have: `+key=value` lets them in. Each is
    told the nearest keys of the whole config (`+epochs=3`: did you mean trainer.epochs?).

    A node that builds a class (`_target_`) is left to argument_problems, which also knows a user's own class."""
    problems = []
    schema = OmegaConf.get_type(cfg)
    if every_key is None:
        every_key = schema_keys(cfg)
    if dataclasses.is_dataclass(schema) and "_target_" not in cfg:
        known = [f.name for f in dataclasses.fields(schema)]
        for key in cfg.keys():
            if key not in known:
                close = nearest_keys(f"{prefix}{key}", every_key)
                hint = f" ({did_you_mean(close)})" if close else f" (its keys: {', '.join(known)})"
                problems.append(f"{prefix}{key} is not a setting of {prefix.rstrip('.') or 'the config'}{hint}")
    for key in cfg.keys():
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            problems += unknown_keys(node, f"{prefix}{key}.", every_key)
    return problems


def schema_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """The dotted keys of `cfg` that a schema or a built class declares: what a misspelt key may have meant."""
    schema = OmegaConf.get_type(cfg)
    known = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else None
    keys = []
    for key in cfg.keys():
        if known is not None and "_target_" not in cfg and key not in known:
            continue  # itself one of the unknown keys
        keys.append(f"{prefix}{key}")
        node = cfg._get_node(key)
        if isinstance(node, DictConfig) and not node._is_missing() and not node._is_none():
            keys += schema_keys(node, f"{prefix}{key}.")
    return keys


def argument_problems(group: str, node: DictConfig) -> list[str]:
    """Keys of a `_target_` node that its class does not take (they would fail, or be dropped, when it is built)."""
    try:
        target = locate(str(node._target_))
        parameters = inspect.signature(target).parameters
    except Exception as e:  # a missing module is said here, before the run starts; anything else when it is built
        problem = import_problem(str(node._target_), e)
        return [f"{group}._target_={problem}"] if problem else []
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return []
    takes = [n for n in parameters if n != "params"]
    return [f"{group}.{key} is not an argument of {target.__name__} ("
            + (f"{did_you_mean([f'{group}.{n}' for n in close])} It takes: " if (close := nearest(str(key), takes)) else "it takes: ")
            + f"{', '.join(takes)})"
            for key in node.keys()
            if not str(key).startswith("_") and key not in parameters and key not in ("task", "init")]


def model_size_problems(model: DictConfig) -> list[str]:
    """Widths and counts of a model that must be positive: `model.channels=[]`, `[0, 8]` or `model.hidden=0`."""
    problems = []
    channels = model.get("channels")
    if channels is not None and (len(channels) == 0 or any(not isinstance(c, int) or c < 1 for c in channels)):
        problems.append(f"model.channels={list(channels)} must be a non-empty list of positive widths, e.g. [8, 16, 32]")
    for key in _SIZE_KEYS:
        value = model.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            problems.append(f"model.{key}={value} must be at least 1")
    return problems
