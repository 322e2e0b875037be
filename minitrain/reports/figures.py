"""Draw figures straight to PNG files: image grids and metric curves (no pyplot, no windows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; never try to open a window
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from minitrain.reports.files import write_atomic  # noqa: E402


def _save(fig: Figure, path: Path) -> None:
    """Write the PNG atomically: a viewer never opens half a picture, and a full disk leaves no temp file."""
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, bbox_inches="tight"), mode="wb")


def image_grid(path: Path, images, titles: Sequence[str] = (), wrong: Sequence[bool] = (), cols: int = 6,
               suptitle: str = "") -> None:
    """Grey (N x H x W) or colour (N x H x W x 3) images, integers 0..255 or floats in [0, 1], in a grid, each
    under its title; `wrong` ones in red. Grey is always light on black, as the datasets store it, whichever
    the number type."""
    n = len(images)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(cols * 1.5, rows * 1.7))
    top = 255 if np.issubdtype(np.asarray(images).dtype, np.integer) else 1  # by type: a dark uint8 image is still 0..255
    for i, image in enumerate(images):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(image, cmap="gray", vmin=0, vmax=top)
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


def smooth(values: Sequence[float], beta: float) -> list[float]:
    """Exponential moving average, bias-corrected (as in Adam), so the first values are not pulled to zero."""
    out, average = [], 0.0
    for i, v in enumerate(values):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta ** (i + 1)))
    return out


def loss_curves(path: Path, batch_losses: Sequence[float], history: Sequence[dict]) -> None:
    """losses.png: see `loss_figure`."""
    _save(loss_figure(batch_losses, history), path)


def loss_figure(batch_losses: Sequence[float], history: Sequence[dict]) -> Figure:
    """The training loss of every batch (faint) and smoothed (bold), with each epoch's training and
    validation loss as points at its end; x counts epochs, so one epoch's batches spread from 0 to 1."""
    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    epochs = [row["epoch"] for row in history]
    shown = []
    if batch_losses:
        n = len(batch_losses)
        x = [(i + 1) * len(history) / n for i in range(n)]
        window = min(50, max(1, n // max(1, len(history)) // 10))  # about a tenth of an epoch, at most 50 batches
        smoothed = smooth(batch_losses, beta=1 - 1 / window)
        ax.plot(x, batch_losses, color="tab:blue", alpha=0.3, linewidth=0.8)
        ax.plot(x, smoothed, color="tab:blue", label="training loss per batch (smoothed)")
        shown += smoothed
    # squares behind circles: equal training and validation losses still show both
    for key, style, size in (("train_loss", dict(marker="s", linestyle="", color="tab:blue"), 8),
                             ("valid_loss", dict(marker="o", color="tab:orange"), 6)):
        ys = [row[key] for row in history if key in row]
        if ys:
            ax.plot(epochs[: len(ys)], ys, **style, markersize=size, markeredgecolor="white", label=f"{key} per epoch",
                    zorder=3)
            shown += ys
    finite = [v for v in shown if math.isfinite(v)]
    if finite:  # the smoothed curve and the points decide the scale; a wild early batch may leave the frame
        ax.set_ylim(0, max(finite) * 1.1)
    ax.set_xlim(0, max(1, len(history)) * 1.03)  # from the first batch; a margin keeps the last points whole
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
