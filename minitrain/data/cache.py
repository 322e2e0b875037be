"""Keep decoded splits on disk, keyed by their source, so only the first run decodes."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from minitrain.data.pixels import Stats
from minitrain.data.sources import Decoded, Split
from minitrain.errors import WriteError
from minitrain.atomic import remove_stale_temp_files, write_atomic

log = logging.getLogger(__name__)


def load_cached(path: Path, splits: list[str]) -> Decoded | None:
    """The decoded `splits` stored at `path`, or None if there are none (or they cannot be read, or do not agree
    with each other: a cache is disposable, so a stale or tampered one is decoded again, never trained on)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        stored = {name: Split(s["images"], s["labels"]) for name, s in blob["splits"].items()}
        stats = Stats(blob["mean"], blob["std"]) if "mean" in blob else None  # older caches have none
        decoded = Decoded(stored, blob["classes"], stats)
        problem = inconsistency(decoded, splits)
    except Exception as e:  # a cache is disposable: decode again rather than fail
        problem = f"unreadable: {e}"
    if problem:
        log.warning("Ignoring the cache file %s (%s); decoding again.", path, problem)
        return None
    return decoded


def inconsistency(decoded: Decoded, splits: list[str]) -> str | None:
    """What makes `decoded` unfit to train on (a split missing, images and labels that do not pair up, images of
    two shapes, statistics or class names of the wrong kind), or None."""
    missing = [s for s in splits if s not in decoded.splits]
    if missing:
        return f"it has no '{missing[0]}' split"
    shapes = set()
    for name in splits:
        images, labels = decoded.splits[name].images, decoded.splits[name].labels
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.ndim == 4):
            return f"the {name} images are not uint8 N x C x H x W"
        if not (isinstance(labels, torch.Tensor) and labels.dtype == torch.int64 and labels.ndim == 1):
            return f"the {name} labels are not int64 N"
        if len(images) != len(labels):
            return f"the {name} split has {len(images)} images but {len(labels)} labels"
        shapes.add(tuple(images.shape[1:]))
    if len(shapes) > 1:
        return f"its splits hold images of different shapes ({', '.join('x'.join(map(str, s)) for s in sorted(shapes))})"
    channels = next(iter(shapes))[0] if shapes else None
    stats = decoded.stats
    if stats is not None and not all(isinstance(t, torch.Tensor) and t.shape == (channels,) for t in (stats.mean, stats.std)):
        return f"its pixel statistics are not one mean and std for each of the {channels} channels"
    if decoded.classes is not None and not (isinstance(decoded.classes, list)
                                            and all(isinstance(c, str) for c in decoded.classes)):
        return "its class names are not a list of strings"
    return None


def save_cached(path: Path, decoded: Decoded) -> None:
    """Store decoded splits atomically; a cache that cannot be written only costs a decode next time."""
    blob = {
        "splits": {name: {"images": s.images, "labels": s.labels} for name, s in decoded.splits.items()},
        "classes": decoded.classes,
        **({"mean": decoded.stats.mean, "std": decoded.stats.std} if decoded.stats else {}),
    }
    if path.parent.is_dir():
        remove_stale_temp_files(path.parent)  # left by a run killed while it cached: each is a whole dataset
    try:
        write_atomic(path, lambda f: torch.save(blob, f), mode="wb")
    except WriteError as e:
        log.warning("Could not cache decoded data at %s (%s); the next run will decode again.", path, e.reason)
