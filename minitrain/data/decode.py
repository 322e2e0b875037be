"""Decode encoded images (files or PNG/JPEG bytes) into one uint8 tensor N x C x S x S: grey or colour, any size,
converted and resized to one shape, on all cores (with a progress bar) when there are many."""

from __future__ import annotations

import concurrent.futures
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from minitrain import interrupts
from minitrain.data.paths import regular_file
from minitrain.errors import DataError
from minitrain.threads import available_cores

log = logging.getLogger(__name__)

PARALLEL_FROM = 2000  # fewer images decode faster in this process than worker processes start
CHUNK = 256  # images per task sent to a worker
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # PIL modes without colour
WIDE_GREY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # 16-bit grey (PNG's 16-bit grey opens as I;16, or as I)


@dataclass(frozen=True)
class Shape:
    """What decoded images become: `channels` (1 grey, 3 RGB) and a square side `image_size`; None: from the data."""

    channels: int | None = None
    image_size: int | None = None


def to_mode(image, mode: str):
    """`image` (PIL) as an 8-bit `mode` image ("L" or "RGB"), converted faithfully where PIL's `convert` is not.

    16-bit grey is scaled to 8 bits (value / 257, rounded: 65535 -> 255); `convert` would clip it to 0 and 255.
    Transparent pixels are alpha-composited over a white background before the conversion: `convert` drops the
    alpha channel, so a picture drawn in alpha alone (colour all 0) would be black on black. White is the
    background that viewers and browsers show such a picture on (an icon, a glyph, a signature)."""
    from PIL import Image

    if image.mode in WIDE_GREY_MODES:
        wide = np.asarray(image).astype(np.int64).clip(0, 65535)  # mode I holds 32 bits: 16-bit content is assumed
        image = Image.fromarray(((wide + 128) // 257).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image if image.mode == mode else image.convert(mode)


def _name(item, index: int) -> str:
    return str(item) if isinstance(item, Path) else f"image {index}"


def _open(item, index: int, what: str):
    from PIL import Image

    try:
        return Image.open(regular_file(item) if isinstance(item, Path) else io.BytesIO(item))  # reads the header only
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{_name(item, index)} of {what} cannot be read as an image ({e}); remove or replace it.") from None


def _probe(start: int, items: Sequence, what: str) -> list[tuple[int, int, bool]]:
    """(width, height, is colour) of each image, from its header alone."""
    out = []
    for i, item in enumerate(items, start):
        with _open(item, i, what) as image:
            out.append((image.width, image.height, image.mode not in GREY_MODES))
    return out


def _decode(start: int, items: Sequence, what: str, channels: int, size: int) -> np.ndarray:
    """The images converted to `channels` and resized to size x size: uint8, n x C x size x size."""
    from PIL import Image

    out = np.empty((len(items), channels, size, size), dtype=np.uint8)
    for i, item in enumerate(items):
        try:
            with _open(item, start + i, what) as image:
                image = to_mode(image, "L" if channels == 1 else "RGB")
                if image.size != (size, size):
                    image = image.resize((size, size), Image.Resampling.BILINEAR)
                pixels = np.asarray(image)
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"{_name(item, start + i)} of {what} cannot be decoded ({e}); the file is corrupt.") from None
        out[i] = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)
    return out


def _run(task: Callable, items: Sequence, description: str) -> list:
    """task(start, chunk) for each chunk of `items`, in order: in worker processes when there are many,
    with a progress bar in a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    chunks = [(start, items[start : start + CHUNK]) for start in range(0, len(items), CHUNK)]
    workers = min(available_cores(), len(chunks)) if len(items) >= PARALLEL_FROM else 1
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    results: list = [None] * len(chunks)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        bar = progress.add_task(description, total=len(items))
        if workers == 1:
            for k, (start, chunk) in enumerate(chunks):
                interrupts.check()  # Ctrl-C stops a long decode between chunks
                results[k] = task(start, chunk)
                progress.advance(bar, len(chunk))
            return results
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(task, start, chunk): k for k, (start, chunk) in enumerate(chunks)}
            for future in concurrent.futures.as_completed(futures):
                interrupts.check()  # Ctrl-C stops a long decode between chunks
                k = futures[future]
                results[k] = future.result()
                progress.advance(bar, len(chunks[k][1]))
        finally:
            pool.shutdown(cancel_futures=True)  # after an error or Ctrl-C, the chunks not started never start
    return results


def decode_images(items: Sequence, shape: Shape, what: str) -> torch.Tensor:
    """Image files (Paths) or encoded bytes as one uint8 tensor N x C x S x S.

    Channels default to 3 when any image has colour (grey ones are converted), else 1; the side defaults to
    the images' own when they all share one square size, and otherwise a DataError asks for dataset.image_size.
    """
    channels, size = shape.channels, shape.image_size
    if channels is None or size is None:
        probes = [p for part in _run(partial(_probe, what=what), items, f"Reading {what}") for p in part]
        channels = channels or (3 if any(colour for _, _, colour in probes) else 1)
        size = size or _common_size(probes, what)
    if len(items) >= PARALLEL_FROM:
        log.info("Decoding %d images of %s on %d cores", len(items), what, min(available_cores(), -(-len(items) // CHUNK)))
    parts = _run(partial(_decode, what=what, channels=channels, size=size), items, f"Decoding {what}")
    return torch.from_numpy(np.concatenate(parts) if parts else np.zeros((0, channels, size, size), np.uint8))


def _common_size(probes: list[tuple[int, int, bool]], what: str) -> int:
    sizes = sorted({(w, h) for w, h, _ in probes})
    if len(sizes) == 1 and sizes[0][0] == sizes[0][1]:
        return sizes[0][0]
    shown = ", ".join(f"{w}x{h}" for w, h in sizes[:4]) + (f" and {len(sizes) - 4} more" if len(sizes) > 4 else "")
    kind = "differ in size" if len(sizes) > 1 else "are not square"
    raise DataError(f"The images of {what} {kind} ({shown}). Set dataset.image_size=N to resize them all to NxN, "
                    "e.g. dataset.image_size=32.")
