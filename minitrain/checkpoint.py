"""The checkpoint file: what it holds, writing it, and the one reader, which treats every file as untrusted data.

A checkpoint is a dict of tensors and plain values: the weights, the optimizer's and callbacks' states, the
epoch, the history, RNG states, and `describe` (the run's config, class names and input format), so that eval,
predict, export and `load_run` need nothing else. Reading it back never runs code: `torch.load(weights_only=True)`
refuses anything but plain data, the description is checked key by key before use, and the model it describes is
built only from minitrain's own classes with plain values (a user's own class only with `trust=True`).
"""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from minitrain import models
from minitrain.atomic import write_atomic
from minitrain.data.pixels import input_stats
from minitrain.errors import CheckpointError
from minitrain.tasks import TASKS
from minitrain.version import __version__

FORMAT = 1  # the layout of "describe"; raise it when a change would break older readers
KEYS = {"model", "optimizer", "epoch", "history", "rng"}  # what every minitrain checkpoint holds
BUILT_IN_MODELS = {f"minitrain.models.{name}": getattr(models, name) for name in models.__all__}
MAX_SIDE = 4096  # the largest image side a checkpoint may describe: predict resizes every input to it
PLAIN = (str, int, float, bool, type(None))


def qualified_name(cls: type) -> str:
    """`module.QualifiedName` of a class, as `_target_` names it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def plain_config(cfg) -> dict[str, Any]:
    """The composed config as plain data (resolved where it can be), which `weights_only=True` loads."""
    from omegaconf import OmegaConf

    try:
        config = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except Exception:  # an interpolation that needs Hydra's job context (a Learner driven from Python)
        config = OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)
    path = config.get("dataset", {}).get("path")
    if path:  # relative to where training started; eval may start somewhere else
        config["dataset"]["path"] = str(Path(path).expanduser().resolve())
    return config


def describe(config: dict[str, Any] | None, data) -> dict[str, Any]:
    """What a checkpoint needs to be used without its run: config, class names, input format, versions."""
    shape = [int(s) for s in data.train.images.shape[1:]] if data is not None else []
    channels, height, width = shape if len(shape) == 3 else [1, *shape] if len(shape) == 2 else [1, 0, 0]
    task = str((config or {}).get("model", {}).get("task", "classification"))
    stats = input_stats(getattr(data, "stats", None), TASKS[task].target)
    return {
        "format": FORMAT,
        "minitrain": __version__,
        "torch": str(torch.__version__),  # a str subclass that weights_only=True refuses
        "config": config,
        "task": task,
        "classes": [str(c) for c in getattr(data, "classes", [])],
        "input": {
            "stored_shape": shape,  # one decoded image as the data splits hold it: C x H x W
            "channels": int(channels),  # 1: grey; 3: colour
            "height": int(height),
            "width": int(width),
            # the training split's per-channel statistics the inputs were normalised with (classifiers; None: none)
            "normalize": None if stats is None else {"mean": stats.mean.tolist(), "std": stats.std.tolist()},
            "preprocess": "uint8 pixels / 255, then (x - mean) / std per channel when normalize is given; N x C x H x W",
        },
    }


def write(path: Path, state: dict[str, Any]) -> None:
    """Save `state` atomically: a kill or a full disk leaves the previous file as it was (WriteError)."""
    write_atomic(path, lambda f: torch.save(state, f), mode="wb")


def read(path: Path) -> dict[str, Any]:
    """A checkpoint to resume from: everything in KEYS, checked, or a CheckpointError."""
    state = _load(path)
    if not isinstance(state, dict) or not KEYS <= state.keys():
        raise CheckpointError(f"{path} is not a minitrain checkpoint: it lacks {', '.join(sorted(KEYS))}.")
    _check_weights_and_epochs(state, path)
    return state


def _load(path: Path) -> Any:
    """A file's contents, loaded as plain data (tensors, numbers, strings, lists, dicts), or a CheckpointError.

    A file that would need more, such as a pickle planted to run code, is refused before anything in it runs."""
    intact = "If checkpoints/best.pt of the same run is intact, copy it over last.pt to resume from the best epoch."
    try:
        with warnings.catch_warnings():  # "pickle protocol 4 ..." on a file torch did not write: refused anyway
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.") from None
    except pickle.UnpicklingError as e:
        if "GLOBAL" in str(e):  # the file names a function or class to import: code, not data
            raise CheckpointError(f"{path} is not a minitrain checkpoint: it cannot be read as plain data, as it asks "
                                  f"to import and run code, which minitrain never does. {intact}") from None
        raise CheckpointError(f"{path} is not a minitrain checkpoint: it is corrupt or unreadable as plain data "
                              f"(tensors, numbers, strings, lists, dicts). {intact}") from None
    except Exception as e:
        reason = " ".join(str(e).split())[:200]
        raise CheckpointError(f"The checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {reason}). "
                              f"{intact}") from None
    return state


def _check_weights_and_epochs(state: dict[str, Any], path: Path) -> None:
    if not isinstance(state["model"], dict) or not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        raise CheckpointError(f"The checkpoint {path} is unusable: 'model' must map weight names to tensors.")
    if not isinstance(state["epoch"], int) or isinstance(state["epoch"], bool) or state["epoch"] < 0:
        raise CheckpointError(f"The checkpoint {path} is unusable: 'epoch' must be a count of epochs, "
                              f"not {state['epoch']!r}.")
    history = state.get("history", [])
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise CheckpointError(f"The checkpoint {path} is unusable: 'history' must be a list of per-epoch rows.")


def read_described(path: Path) -> dict[str, Any]:
    """A checkpoint to use outside its run (eval, predict, export, `load_run`): its weights, epoch and description,
    checked, or a CheckpointError."""
    state = _load(path)
    info = state.get("describe") if isinstance(state, dict) else None
    if not isinstance(info, dict) or not info.get("config"):
        raise CheckpointError(
            f"The checkpoint {path} does not describe itself (no config, class names or input format): it was "
            "written by an older minitrain (or by a Learner driven from Python, which has no config to store). "
            "Train the run again with the `minitrain` command to use it with eval, predict or export.")
    if isinstance(info.get("format"), int) and info["format"] > FORMAT:
        raise CheckpointError(f"The checkpoint {path} was written by minitrain {info.get('minitrain')} in a newer "
                              f"format ({info['format']}; this minitrain reads up to {FORMAT}). Upgrade minitrain.")
    missing = [key for key in ("model", "epoch") if key not in state]
    if missing:
        raise CheckpointError(f"The checkpoint {path} is unusable: it lacks {' and '.join(missing)}.")
    _check_weights_and_epochs(state, path)
    problem = description_problem(info)
    if problem:
        raise CheckpointError(f"The checkpoint {path} is unusable: {problem}.")
    return state


def description_problem(info: dict[str, Any]) -> str | None:
    """What is wrong with a checkpoint's `describe` entry (a hand-edited or hostile file), or None."""
    if info.get("format") != FORMAT:
        return f"describe.format is {info.get('format')!r}, not {FORMAT}"
    if not isinstance(info["config"], dict) or not isinstance(info["config"].get("model"), dict):
        return "describe.config.model must be the model's config"
    if bad := _interpolation(info["config"], "describe.config"):
        return f"{bad} holds an interpolation (${{...}}), which minitrain never evaluates from a file"
    if info.get("task") not in TASKS:
        return f"describe.task is {info.get('task')!r}, not one of {', '.join(TASKS)}"
    classes = info.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return "describe.classes must be a list of class names"
    if info["task"] == "classification" and len(classes) < 2:
        return f"describe.classes names {len(classes)} class(es); a classifier has at least 2"
    shape = info.get("input")
    if not isinstance(shape, dict):
        return "describe.input is missing"
    channels, height, width = (shape.get(k) for k in ("channels", "height", "width"))
    if channels not in (1, 3):
        return f"describe.input.channels is {channels!r}; images have 1 (grey) or 3 (colour) channels"
    for key, side in (("height", height), ("width", width)):
        if not isinstance(side, int) or not 1 <= side <= MAX_SIDE:
            return f"describe.input.{key} is {side!r}, not a side of 1 to {MAX_SIDE} pixels"
    if shape.get("stored_shape") not in ([channels, height, width], [height, width]):
        return f"describe.input.stored_shape {shape.get('stored_shape')!r} disagrees with {channels}x{height}x{width}"
    return _normalize_problem(shape.get("normalize"), channels)


def _normalize_problem(normalize: Any, channels: int) -> str | None:
    if normalize is None:
        return None
    if not isinstance(normalize, dict):
        return "describe.input.normalize must be null or the mean and std per channel"
    for key in ("mean", "std"):
        values = normalize.get(key)
        if not isinstance(values, list) or len(values) != channels or \
                not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            return f"describe.input.normalize.{key} must be {channels} finite number(s)"
    if not all(s > 0 for s in normalize["std"]):
        return "describe.input.normalize.std must be positive (a std of 0 divides by zero)"
    return None


def build_model(info: dict[str, Any], path: Path, trust: bool = False) -> nn.Module:
    """The model a checkpoint's config describes, built without evaluating anything from the file.

    Only a `_target_` among minitrain's models is built, and only with plain values: no nested `_target_`,
    no `_args_` or other Hydra keys, no `${...}` interpolation. A user's own class (any other `_target_`)
    is imported only with `trust=True`: importing a module someone named is running their code."""
    node = {k: v for k, v in info["config"]["model"].items() if k not in models.CONFIG_ONLY}
    target = node.pop("_target_", None)
    if bad := _not_plain(node, "model"):
        raise CheckpointError(f"The checkpoint {path} is refused: {bad} is not a plain value (a nested _target_, "
                              "Hydra key or interpolation would run code). minitrain builds a checkpoint's model "
                              "from plain values only.")
    if not isinstance(target, str):
        raise CheckpointError(f"The checkpoint {path} is unusable: describe.config.model._target_ is missing.")
    cls = BUILT_IN_MODELS.get(target)
    if cls is None:
        if not trust:
            raise CheckpointError(
                f"The checkpoint {path} is built by {target}, a class outside minitrain; importing it runs that "
                "module's code. If you trust the run, pass trust=true (load_run(..., trust=True) in Python).")
        from minitrain.user_code import import_problem, locate

        try:
            cls = locate(target)
        except Exception as e:
            said = (import_problem(target, e) or f"{' '.join(str(e).split())[:200]}. Put its module on PYTHONPATH") + "."
            raise CheckpointError(f"The checkpoint {path} names the model class {target}, which cannot be "
                                  f"imported: {said}") from None
    try:
        return cls(**node)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"The checkpoint {path} describes a model {target} cannot be built from "
                              f"({' '.join(str(e).split())[:200]}).") from None


def _not_plain(value: Any, key: str) -> str | None:
    """The first key under `value` that is not plain data (numbers, strings, lists, mappings of them), or None."""
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).startswith("_"):  # _target_, _args_, _partial_, ...: Hydra would act on them
                return f"{key}.{k}"
            if bad := _not_plain(v, f"{key}.{k}"):
                return bad
        return None
    if isinstance(value, (list, tuple)):
        return next((bad for i, v in enumerate(value) if (bad := _not_plain(v, f"{key}[{i}]"))), None)
    if isinstance(value, str) and "${" in value:  # an interpolation or resolver
        return key
    return None if isinstance(value, PLAIN) else key


def _interpolation(value: Any, key: str) -> str | None:
    """The first key under `value` whose string holds a `${...}` interpolation or resolver, or None."""
    if isinstance(value, dict):
        return next((bad for k, v in value.items() if (bad := _interpolation(v, f"{key}.{k}"))), None)
    if isinstance(value, (list, tuple)):
        return next((bad for i, v in enumerate(value) if (bad := _interpolation(v, f"{key}[{i}]"))), None)
    return key if isinstance(value, str) and "${" in value else None


def state_dict_mismatch(expected: dict, saved: dict) -> str:
    """'' when `saved` fits a model whose state_dict is `expected`; else the first differences, on one line."""
    missing = [k for k in expected if k not in saved]
    extra = [k for k in saved if k not in expected]
    shapes = [f"{k} is {'x'.join(map(str, saved[k].shape))} in the checkpoint, "
              f"{'x'.join(map(str, expected[k].shape))} here"
              for k in expected if k in saved and tuple(saved[k].shape) != tuple(expected[k].shape)]
    parts = ([f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"] if missing else []) + \
            ([f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}"] if extra else []) + shapes[:2]
    return "; ".join(parts)
