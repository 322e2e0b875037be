"""Draw figures straight to PNG files: image grids and metric curves (no pyplot, no windows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never try to open a window
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from minitrain.reports.files import write_atomic  # noqa: E402


def _save(fig: Figure, path: Path) -> None:
    """Write the PNG atomically: a viewer never opens half a picture, and a full disk leaves no temp file."""
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), mode="wb")


def image_grid(path: Path, images, titles: Sequence[str] = (), wrong: Sequence[bool] = (), cols: int = 6,
               suptitle: str = "") -> None:
    """Grayscale images (N x H x W, values in [0, 1] or 0..255) in a grid, each under its title; `wrong` ones in red."""
    n = len(images)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(cols * 1.5, rows * 1.7))
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(image, cmap="gray_r" if image.max() > 1 else "gray", vmin=0, vmax=255 if image.max() > 1 else 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if i < len(titles):
            bad = i < len(wrong) and wrong[i]
            ax.set_title(titles[i], fontsize=8, color="red" if bad else "black")
            if bad:
                for spine in ax.spines.values():
                    spine.set_edgecolor("red")
                    spine.set_linewidth(2)
    if suptitle:
        fig.suptitle(suptitle)
    _save(fig, path)


def reconstruction_grid(path: Path, originals, reconstructions, title: str = "") -> None:
    """Originals in the top row of each pair, their reconstructions just below."""
    n = len(originals)
    cols = min(n, 12)
    pairs = math.ceil(n / cols)
    fig = Figure(figsize=(cols * 1.0, pairs * 2.1))
    for i in range(n):
        row, col = divmod(i, cols)
        for k, (image, label) in enumerate(((originals[i], "original"), (reconstructions[i], "reconstruction"))):
            ax = fig.add_subplot(pairs * 2, cols, (2 * row + k) * cols + col + 1)
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def curves(path: Path, x: Sequence[float], series: dict[str, Sequence[float]], xlabel: str, ylabel: str,
           title: str = "", logx: bool = False, logy: bool = False, marks: dict[str, float] | None = None,
           integer_x: bool = False) -> None:
    """Line plot of one or more named series against `x`; `marks` are labelled vertical lines at those x.

    `integer_x` keeps x ticks on whole numbers (epochs), never 1.5.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, ys in series.items():
        ax.plot(x[: len(ys)], ys, marker="o" if len(x) <= 30 else None, label=name)
    for name, at in (marks or {}).items():
        ax.axvline(at, color="red", linestyle="--", alpha=0.7, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)
