"""Data: find the images, decode them once into tensors, and serve whole batches to the Learner."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from minitrain.data.cache import load_cached, save_cached
from minitrain.data.decode import Shape
from minitrain.data.loaders import build_loaders
from minitrain.data.pixels import Stats, channel_stats
from minitrain.data.sources import Columns, HubSource, Source, Split, local_source
from minitrain.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["ImageData", "Split", "Stats", "build_loaders", "shaped_config", "find_source", "load_image_data"]

VALID_SPLITS = ("test", "validation", "valid", "val")  # tried in this order when dataset.valid_split is null
MAX_CLASSES = 100_000  # more is a wrong label or setting (one label of 10**9 would build 10**9 class names)


@dataclass
class ImageData:
    """A dataset ready to train on: decoded training and validation splits and their class names."""

    train: Split
    valid: Split
    classes: list[str]
    source: str
    seconds: float  # time spent finding, decoding or loading from the cache
    stats: Stats | None = None  # the training split's per-channel pixel mean and std
    name: str = ""  # what runs report and the cache file is named after

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[2]


def find_source(cfg) -> Source:
    """The explicit `dataset.path`, else the system-wide copy, else the hub; set to decode as the config says."""
    if cfg.channels not in (None, 1, 3):
        raise DataError(f"dataset.channels={cfg.channels} must be 1 (grey), 3 (RGB) or null (from the data).")
    if cfg.image_size is not None and cfg.image_size < 1:
        raise DataError(f"dataset.image_size={cfg.image_size} must be a side in pixels, e.g. 32, or null (the images' own).")
    if cfg.path is not None and not cfg.path.strip():  # '' is a path to nothing, not "no path": never the system copy
        raise DataError(f"dataset.path is empty (dataset.path='{cfg.path}'): give the dataset's folder, "
                        "dataset.path=DIR, or dataset.path=null to use the system copy or the hub.")
    source = _where(cfg)
    source.shape = Shape(cfg.channels, cfg.image_size)
    source.columns = Columns(cfg.image_column, cfg.label_column)
    return source


def _where(cfg) -> Source:
    if cfg.path:
        return local_source(Path(cfg.path).expanduser(), "dataset.path")
    if cfg.system_path and Path(cfg.system_path).is_dir():
        return local_source(Path(cfg.system_path), "The system copy")
    if not cfg.hub_id:
        raise DataError(
            "No dataset to read: give dataset.path=DIR (a folder of train/<class>/ images, IDX files, hub-layout "
            "parquet files or a save_to_disk folder), or dataset=hub dataset.hub_id=OWNER/NAME for a hub dataset."
        )
    return HubSource(cfg.hub_id)


def safe_name(text: str) -> str:
    """`text` as a plain file name: no folders (`../x`), no hidden files, nothing a shell or a file system minds."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".") or "dataset"


def cache_name(key: str, longest: int = 100) -> str:
    """`key` as a cache file's name (without .pt): itself when short, else a readable prefix and a hash of the whole
    key. File systems refuse names over 255 bytes, and write_atomic's temporary name adds about 30 to this one."""
    name = safe_name(key)
    if len(name) <= longest:
        return name
    return f"{name[: longest - 17]}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _not_found(cfg, error: Exception) -> DataError:
    system_fix = ("apt-get install dataset-fashion-mnist (Debian, Ubuntu)" if cfg.name == "fashion_mnist"
                  else f"put its IDX files in {cfg.system_path}")  # Debian packages Fashion-MNIST, not MNIST
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    hub_fix = ("unset HF_HUB_OFFLINE to let minitrain download it" if offline else
               "connect to the hub (or set HF_HUB_OFFLINE=1 to skip it without waiting for its time-out)")
    system = (f"(2) a system copy at {cfg.system_path} (not there); " if cfg.system_path
              else "(2) a system copy (none known for this dataset); ")
    return DataError(
        f"No copy of {cfg.name or cfg.hub_id} could be found. minitrain looks, in order, at (1) dataset.path=DIR, "
        "a folder of IDX files, hub-layout parquet files, a save_to_disk folder or train/<class>/ images (not given); "
        f"{system}(3) the Hugging Face hub, {cfg.hub_id}, which failed: {str(error).strip()}. "
        f"Give a local copy with dataset.path=DIR, {system_fix + ', ' if cfg.system_path else ''}or {hub_fix}."
    )


def dataset_name(cfg, source: Source) -> str:
    """`dataset.name`, else one made from the source (folder-pets, hub-uoft-cs-cifar10): a user's own data is
    never reported or cached under a built-in dataset's name."""
    if cfg.name:
        return cfg.name
    where = source.location if isinstance(source, HubSource) else Path(source.location).name
    return f"{source.slug}-{re.sub(r'[^A-Za-z0-9_.]+', '-', where).strip('-.')}"


def choose_splits(cfg, source: Source) -> tuple[str, str]:
    """The training and validation split names, checked against the splits the source has."""
    have = source.split_names()
    valid = cfg.valid_split or next((s for s in VALID_SPLITS if s in have), VALID_SPLITS[0])
    for key, split in (("train_split", cfg.train_split), ("valid_split", valid)):
        if split not in have:
            others = [s for s in have if s != cfg.train_split] or have
            where = str(source)
            fix = f" Set dataset.{key}={others[0]} to use the split it has." if others else ""
            raise DataError(f"{where[0].upper()}{where[1:]} has no '{split}' split (it has: "
                            f"{', '.join(have) or 'none'}).{fix}")
    return cfg.train_split, valid


def load_image_data(cfg) -> ImageData:
    """Decode (or load from the cache) the configured dataset's training and validation splits."""
    start = time.perf_counter()
    source = find_source(cfg)
    name = dataset_name(cfg, source)
    try:
        splits = list(choose_splits(cfg, source))
        shape, columns = source.shape, source.columns
        shape_key = f"{shape.channels or 'auto'}x{shape.image_size or 'auto'}"
        key = cache_name("-".join([name, *splits, shape_key, *filter(None, (columns.image, columns.label)),
                                   source.fingerprint()]))
    except DataError:
        raise
    except Exception as e:  # only the hub gets here: everything local raises DataError
        raise _not_found(cfg, e) from None
    cache_file = Path(cfg.cache_dir).expanduser() / f"{key}.pt"
    decoded = load_cached(cache_file, splits)
    if decoded is None or decoded.stats is None:
        log.info("Decoding %s from %s (once; later runs reuse %s)", name, source, cache_file)
        decoded = source.decode(splits)
        decoded.stats = channel_stats(decoded.splits[splits[0]].images)  # the training split's, once
        save_cached(cache_file, decoded)
    data = ImageData(
        train=decoded.splits[splits[0]],
        valid=decoded.splits[splits[1]],
        classes=list(decoded.classes or cfg.classes or []),
        source=str(source),
        seconds=time.perf_counter() - start,
        stats=decoded.stats,
        name=name,
    )
    _check(data, cfg)
    log.info("Data: %s (%d train, %d valid images, %dx%d, %d channel%s) ready in %.2f s", data.source,
             len(data.train.labels), len(data.valid.labels), data.image_size, data.image_size, data.channels,
             "s" if data.channels > 1 else "", data.seconds)
    return data


def _num_classes(data: ImageData, cfg) -> int:
    """dataset.num_classes, else the number of class names, else the largest label + 1: refused (before anything is
    built for that many classes) when the labels imply more classes than there are images, or than MAX_CLASSES."""
    if cfg.num_classes or data.classes:
        return cfg.num_classes or len(data.classes)
    labelled = [(name, s.labels) for name, s in (("train", data.train), ("valid", data.valid)) if len(s.labels)]
    if not labelled:
        return 0
    name, high = max(((name, int(y.max())) for name, y in labelled), key=lambda pair: pair[1])
    images = len(data.train.labels) + len(data.valid.labels)
    if high + 1 > min(images, MAX_CLASSES):
        bound = f"the {images} images" if images < MAX_CLASSES else f"the {MAX_CLASSES} minitrain allows"
        raise DataError(f"The {name} labels of {data.source} go up to {high}, which would make {high + 1} classes, "
                        f"more than {bound}. Fix the labels, or set dataset.num_classes=N if there are N classes.")
    return high + 1


def _check(data: ImageData, cfg) -> None:
    num_classes = _num_classes(data, cfg)
    for name, split in (("train", data.train), ("valid", data.valid)):
        if len(split.labels) == 0:
            raise DataError(f"The {name} split of {data.source} is empty.")
        channels, height, width = tuple(split.images.shape[1:])
        if (height, width) != (cfg.image_size or data.image_size,) * 2:
            size = cfg.image_size or data.image_size
            raise DataError(
                f"The {name} images of {data.source} are {height}x{width} pixels, but dataset.image_size "
                f"is {size}. Use {size}x{size} images, or set dataset.image_size to match "
                "(IDX files are never resized)."
            )
        if cfg.channels and channels != cfg.channels:
            raise DataError(f"The {name} images of {data.source} have {channels} channels, but dataset.channels is "
                            f"{cfg.channels}. Set dataset.channels={channels} (or null: from the data).")
        low, high = int(split.labels.min()), int(split.labels.max())
        if low < 0 or high >= num_classes:
            raise DataError(
                f"The {name} labels of {data.source} run from {low} to {high}, outside 0..{num_classes - 1} "
                f"(dataset.num_classes={num_classes}). Fix the labels, or set dataset.num_classes."
            )
    if len(data.classes) != num_classes:
        data.classes = [str(i) for i in range(num_classes)]


def shaped_config(cfg, data: ImageData):
    """A copy of the run's config whose dataset keys left null (name, channels, image_size, num_classes) hold the
    decoded data's values, so that the model's `${dataset.*}` interpolations (and the checkpoint's config) carry the
    data's real shape. The config itself is left as composed."""
    import copy

    from omegaconf import read_write

    shaped = copy.deepcopy(cfg)
    with read_write(shaped):
        for key, value in (("name", data.name), ("channels", data.channels), ("image_size", data.image_size),
                           ("num_classes", len(data.classes))):
            if shaped.dataset[key] is None:
                shaped.dataset[key] = value
    return shaped
