"""Data: find the images, decode them once into tensors, and serve whole batches to the Learner."""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from minitrain.data.cache import load_cached, save_cached
from minitrain.data.loaders import build_loaders
from minitrain.data.sources import HubSource, Source, Split, local_source
from minitrain.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["ImageData", "Split", "build_loaders", "find_source", "load_image_data"]


@dataclass
class ImageData:
    """A dataset ready to train on: decoded training and validation splits and their class names."""

    train: Split
    valid: Split
    classes: list[str]
    source: str
    seconds: float  # time spent finding, decoding or loading from the cache


def find_source(cfg) -> Source:
    """The explicit `dataset.path`, else the system-wide copy, else the hub."""
    if cfg.path:
        return local_source(Path(cfg.path).expanduser(), "dataset.path")
    if cfg.system_path and Path(cfg.system_path).is_dir():
        return local_source(Path(cfg.system_path), "The system copy")
    return HubSource(cfg.hub_id)


def safe_name(text: str) -> str:
    """`text` as a plain file name: no folders (`../x`), no hidden files, nothing a shell or a file system minds."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".") or "dataset"


def _not_found(cfg, error: Exception) -> DataError:
    system_fix = ("apt-get install dataset-fashion-mnist (Debian, Ubuntu)" if cfg.name == "fashion_mnist"
                  else f"put its IDX files in {cfg.system_path}")  # Debian packages Fashion-MNIST, not MNIST
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    hub_fix = ("unset HF_HUB_OFFLINE to let minitrain download it" if offline else
               "connect to the hub (or set HF_HUB_OFFLINE=1 to skip it without waiting for its time-out)")
    return DataError(
        f"No copy of {cfg.name} could be found. minitrain looks, in order, at (1) dataset.path=DIR, a folder "
        "of IDX files, hub-layout parquet files or a save_to_disk folder (not given); "
        f"(2) a system copy at {cfg.system_path} (not there); "
        f"(3) the Hugging Face hub, {cfg.hub_id}, which failed: {str(error).strip()}. "
        f"Give a local copy with dataset.path=DIR, {system_fix}, or {hub_fix}."
    )


def load_image_data(cfg) -> ImageData:
    """Decode (or load from the cache) the configured dataset's training and validation splits."""
    start = time.perf_counter()
    source = find_source(cfg)
    splits = [cfg.train_split, cfg.valid_split]
    try:
        key = safe_name(f"{cfg.name}-{'-'.join(splits)}-{source.fingerprint()}")
    except DataError:
        raise
    except Exception as e:  # only the hub gets here: everything local raises DataError
        raise _not_found(cfg, e) from None
    cache_file = Path(cfg.cache_dir).expanduser() / f"{key}.pt"
    decoded = load_cached(cache_file)
    if decoded is None:
        log.info("Decoding %s from %s (once; later runs reuse %s)", cfg.name, source, cache_file)
        decoded = source.decode(splits)
        save_cached(cache_file, decoded)
    data = ImageData(
        train=decoded.splits[cfg.train_split],
        valid=decoded.splits[cfg.valid_split],
        classes=list(decoded.classes or cfg.classes),
        source=str(source),
        seconds=time.perf_counter() - start,
    )
    _check(data, cfg)
    log.info("Data: %s (%d train, %d valid images) ready in %.2f s", data.source, len(data.train.labels),
             len(data.valid.labels), data.seconds)
    return data


def _check(data: ImageData, cfg) -> None:
    for name, split in (("train", data.train), ("valid", data.valid)):
        if len(split.labels) == 0:
            raise DataError(f"The {name} split of {data.source} is empty.")
        shape = tuple(split.images.shape[1:])
        if shape != (cfg.image_size, cfg.image_size):
            raise DataError(
                f"The {name} images of {data.source} are {shape[0]}x{shape[1]} pixels, but dataset.image_size "
                f"is {cfg.image_size}. Use {cfg.image_size}x{cfg.image_size} grayscale images, or set "
                f"dataset.image_size to match (models built for 28x28 need 28x28)."
            )
        low, high = int(split.labels.min()), int(split.labels.max())
        if low < 0 or high >= cfg.num_classes:
            raise DataError(
                f"The {name} labels of {data.source} run from {low} to {high}, outside 0..{cfg.num_classes - 1} "
                f"(dataset.num_classes={cfg.num_classes}). Fix the labels, or set dataset.num_classes."
            )
    if len(data.classes) != cfg.num_classes:
        data.classes = [str(i) for i in range(cfg.num_classes)]
