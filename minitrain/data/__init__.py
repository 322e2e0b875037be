"""Data: find the images, decode them once into tensors, and serve whole batches to the Learner."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from minitrain.data.cache import load_cached, save_cached
from minitrain.data.decode import Shape
from minitrain.data.loaders import build_loaders
from minitrain.data.pixels import Stats, channel_stats
from minitrain.data.sources import Columns, HubSource, Source, Split, local_source
from minitrain.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["ImageData", "Split", "Stats", "build_loaders", "choose_splits", "shaped_config", "find_source", "hold_out",
           "load_image_data"]

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
    train_split: str = "train"  # the source's split trained on
    valid_split: str = "test"  # the source's split validated on: train_split itself when held out of it
    valid_pct: float | None = None  # the share of train_split held out at random to validate on (None: its own split)
    seed: int | None = None  # what drew the held-out images

    @property
    def validation(self) -> dict:
        """What the run validated on, for summary.json: a split, or a seeded share held out of the training split."""
        if self.valid_pct is None:
            return {"split": self.valid_split}
        return {"split": self.valid_split, "held_out_pct": self.valid_pct, "seed": self.seed}

    def describe_training(self) -> str:
        """The images trained on, in words: eval's header for split=train."""
        if self.valid_pct is None:
            return f"the {self.train_split} split"
        return f"the {self.train_split} split less the {self.valid_pct:.0%} held out to validate on (seed {self.seed})"

    def describe_validation(self) -> str:
        """The same in words, for the log and eval's header."""
        if self.valid_pct is None:
            return f"the {self.valid_split} split"
        return (f"{self.valid_pct:.0%} of the {self.train_split} split, held out at random with seed {self.seed} "
                "(the source has no validation split; dataset.valid_pct)")

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
    never reported or cached under a built-in dataset's name, not even when `dataset.path` names it under a built-in
    dataset's config (the data names classes other than the config's)."""
    if cfg.name and not names_other_classes(cfg, source):
        return cfg.name
    where = source.location if isinstance(source, HubSource) else Path(source.location).name
    return f"{source.slug}-{re.sub(r'[^A-Za-z0-9_.]+', '-', where).strip('-.')}"


def names_other_classes(cfg, source: Source) -> list[str] | None:
    """The classes the source names, when the config names others (`dataset.path=PETS` under the fashion_mnist
    config); else None."""
    names = source.class_names() if cfg.classes else None
    return names if names and list(names) != list(cfg.classes) else None


def choose_splits(cfg, source: Source) -> tuple[str, str | None]:
    """The training and validation split names, checked against the splits the source has; the validation name is
    None when the source has none and `dataset.valid_pct` holds out a share of the training split instead."""
    have = source.split_names()
    found = cfg.valid_split or next((s for s in VALID_SPLITS if s in have), None)
    valid_pct = cfg.get("valid_pct")
    for key, split in (("train_split", cfg.train_split), ("valid_split", found)):
        if split is None and valid_pct:
            continue
        if split is None or split not in have:
            raise DataError(f"{_capital(str(source))} has no '{split or VALID_SPLITS[0]}' split (it has: "
                            f"{', '.join(have) or 'none'}).{_split_fix(cfg, key, have)}")
    return cfg.train_split, found


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _split_fix(cfg, key: str, have: list[str]) -> str:
    """How to name a split the source has; never to validate on the training images."""
    others = [s for s in have if s != cfg.train_split]
    if key == "train_split":
        return f" Set dataset.train_split={have[0]} to use the split it has." if have else ""
    if others:
        return f" Set dataset.valid_split={others[0]} to use the split it has."
    if cfg.get("valid_pct"):
        return (f" Set dataset.valid_split=null to validate on {cfg.get('valid_pct'):.0%} of the {cfg.train_split} "
                "images, held out at random with the run's seed (dataset.valid_pct).")
    return (f" Set dataset.valid_pct=0.2 (and dataset.valid_split=null) to validate on a fifth of the {cfg.train_split} "
            "images, held out at random with the run's seed, or add a test/ split.")


def hold_out(split: Split, pct: float, seed: int, what: str) -> tuple[Split, Split]:
    """`split` as (kept for training, held out for validation): `pct` of its images drawn at random with `seed`
    (fastai's RandomSplitter), each part in the split's own order, so the same seed always holds out the same images."""
    n = len(split.labels)
    n_valid = round(n * pct)
    if not 0 < n_valid < n:
        raise DataError(f"dataset.valid_pct={pct} of the {n} images of {what} leaves "
                        f"{'no image to validate on' if n_valid == 0 else 'none to train on'}: give a share that "
                        "holds out at least one image and keeps one, or a validation split of its own.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    valid, train = order[:n_valid].sort().values, order[n_valid:].sort().values
    return Split(split.images[train], split.labels[train]), Split(split.images[valid], split.labels[valid])


def load_image_data(cfg, seed: int = 0) -> ImageData:
    """Decode (or load from the cache) the configured dataset's training and validation splits; a source without a
    validation split gives `dataset.valid_pct` of its training images, drawn with `seed` (the run's), to validate on."""
    start = time.perf_counter()
    source = find_source(cfg)
    name = dataset_name(cfg, source)
    if name != cfg.name and cfg.name:
        log.warning("%s names its own classes (%s), not those of the %s config: it is recorded as %s, and trained "
                    "with that config's %s channel(s) of %sx%s pixels and %s classes. Add dataset=folder (or "
                    "dataset=hub) to take those from the data.", _capital(str(source)),
                    ", ".join(names_other_classes(cfg, source)[:5]), cfg.name, name, cfg.channels, cfg.image_size,
                    cfg.image_size, cfg.num_classes)
    try:
        train_split, valid_split = choose_splits(cfg, source)
        splits = [train_split, *([valid_split] if valid_split else [])]
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
    train, stats = decoded.splits[train_split], decoded.stats
    if valid_split is None:
        train, valid = hold_out(train, cfg.valid_pct, seed, f"the {train_split} split of {source}")
        stats = channel_stats(train.images)  # of the images trained on, the held-out ones left out
    else:
        valid = decoded.splits[valid_split]
    data = ImageData(train=train, valid=valid, classes=list(decoded.classes or cfg.classes or []), source=str(source),
                     seconds=time.perf_counter() - start, stats=stats, name=name, train_split=train_split,
                     valid_split=valid_split or train_split, valid_pct=None if valid_split else cfg.valid_pct,
                     seed=None if valid_split else seed)
    _check(data, cfg)
    log.info("Data: %s (%d train, %d valid images, %dx%d, %d channel%s) ready in %.2f s; validating on %s",
             data.source, len(data.train.labels), len(data.valid.labels), data.image_size, data.image_size,
             data.channels, "s" if data.channels > 1 else "", data.seconds, data.describe_validation())
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
    """A copy of the run's config whose dataset keys left null (name, channels, image_size, num_classes, and
    valid_split unless a share of train is held out) hold the decoded data's values, so that the model's
    `${dataset.*}` interpolations (and the checkpoint's config) carry the data's real shape and split. The config
    itself is left as composed."""
    import copy

    from omegaconf import read_write

    shaped = copy.deepcopy(cfg)
    with read_write(shaped):
        for key, value in (("channels", data.channels), ("image_size", data.image_size),
                           ("num_classes", len(data.classes))):
            if shaped.dataset[key] is None:
                shaped.dataset[key] = value
        shaped.dataset.name = data.name  # the config's, unless the data is another (dataset_name)
        if shaped.dataset.valid_split is None and data.valid_pct is None:  # the split found (test/, val/ ...)
            shaped.dataset.valid_split = data.valid_split
    return shaped
