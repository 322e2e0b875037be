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


def load_cached(path: Path) -> Decoded | None:
    """The decoded splits stored at `path`, or None if there are none (or they cannot be read)."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, weights_only=True)
        splits = {name: Split(s["images"], s["labels"]) for name, s in blob["splits"].items()}
        stats = Stats(blob["mean"], blob["std"]) if "mean" in blob else None  # older caches have none
        return Decoded(splits, blob["classes"], stats)
    except Exception as e:  # a cache is disposable: decode again rather than fail
        log.warning("Ignoring unreadable cache file %s (%s); decoding again.", path, e)
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
