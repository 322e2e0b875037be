"""Read a run directory back: what its checkpoints describe, and which checkpoint to use.

Light at import (no torch): the training path imports `plain_config` and `describe` from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from minitrain.errors import MinitrainError

FORMAT = 1  # the checkpoint's "describe" layout; raise it when a change would break older readers
KNOWN = ("best", "last")


class RunError(MinitrainError):
    """A run directory, checkpoint or input that eval, predict, export or load_run cannot use."""


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
    import torch

    import minitrain

    from minitrain.data.pixels import input_stats
    from minitrain.tasks import TASKS

    shape = [int(s) for s in data.train.images.shape[1:]] if data is not None else []
    channels, height, width = shape if len(shape) == 3 else [1, *shape] if len(shape) == 2 else [1, 0, 0]
    task = str((config or {}).get("model", {}).get("task", "classification"))
    stats = input_stats(getattr(data, "stats", None), TASKS[task].target)
    return {
        "format": FORMAT,
        "minitrain": getattr(minitrain, "__version__", "unknown"),
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


def find_run(path: str | Path) -> Path:
    """`path` as a run directory (one with checkpoints/), or a RunError saying what it is instead."""
    run_dir = Path(path).expanduser().resolve()
    if not run_dir.is_dir():
        raise RunError(f"run={run_dir} does not exist. Give a run directory, e.g. run=outputs/2026-01-31/12-00-00.")
    if not (run_dir / "checkpoints").is_dir():
        what = "a run that ended before its first epoch" if (run_dir / ".hydra").is_dir() else "not a minitrain run"
        raise RunError(f"run={run_dir} is {what}: it has no checkpoints/ folder. Give the folder of a run that "
                       "finished at least one epoch, e.g. run=outputs/2026-01-31/12-00-00.")
    return run_dir


def checkpoint_file(run_dir: Path, which: str) -> Path:
    """checkpoints/best.pt or last.pt of `run_dir`, or the checkpoint file `which` names."""
    folder = run_dir / "checkpoints"
    candidates = [folder / f"{which}.pt"] if which in KNOWN else [Path(which).expanduser(), folder / which]
    for path in candidates:  # best or last; else a path, or a file in checkpoints/
        if path.is_file():
            return path
    there = sorted(p.name for p in folder.glob("*.pt"))
    raise RunError(f"checkpoint={which} does not exist. {folder} holds: "
                   f"{', '.join(there) or 'nothing'}. Use checkpoint=best, checkpoint=last or a .pt file's path.")


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents, loaded as plain data; a RunError if it cannot be used outside its run."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        lines = str(e).splitlines() or [""]
        reason = next((line.strip() for line in lines if "Unsupported global" in line), lines[0])[:300]
        raise RunError(f"The checkpoint {path} cannot be read as plain data ({type(e).__name__}: {reason}). "
                       "It is corrupt, not a minitrain checkpoint, or holds objects that only unpickling could "
                       "rebuild.") from None
    info = state.get("describe") if isinstance(state, dict) else None
    if not isinstance(info, dict) or not info.get("config"):
        raise RunError(f"The checkpoint {path} does not describe itself (no config, class names or input format): "
                       "it was written by an older minitrain (or by a Learner driven from Python, which has no "
                       "config to store). Train the run again with the `minitrain` command to use it with eval, "
                       "predict or export.")
    if info.get("format", 0) > FORMAT:
        raise RunError(f"The checkpoint {path} was written by minitrain {info.get('minitrain')} in a newer format "
                       f"({info['format']}; this minitrain reads up to {FORMAT}). Upgrade minitrain.")
    return state
