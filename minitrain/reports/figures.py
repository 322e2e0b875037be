"""Draw figures straight to PNG files: image grids and metric curves (no pyplot, no windows)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; never try to open a window
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from minitrain.atomic import write_atomic  # noqa: E402


def save_figure(fig: Figure, path: Path, tight: bool = True) -> None:
    """Write the PNG atomically: a viewer never opens half a picture, and a full disk leaves no temp file.
    `tight` trims the margins, at the price of drawing twice; grids are laid out to the inch and need not."""
    bbox = {"bbox_inches": "tight"} if tight else {}
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100, **bbox), mode="wb")


def _canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of that size in inches and one frameless Axes over all of it, measured in inches, y downwards.

    Grids put every image on this one Axes: a grid of 36 Axes took a second to draw, which every run paid twice."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    return fig, ax


def _place(ax, image, x: float, y: float, side: float, vmax: float) -> None:
    """Draw `image` as a side x side square whose top-left corner is at (x, y) inches (grey as light on black)."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=vmax, extent=(x, x + side, y + side, y))
    ax.set_aspect("auto")  # imshow asks for square pixels; the canvas's inches already are


def image_grid(path: Path, images, titles: Sequence[str] = (), wrong: Sequence[bool] = (), cols: int = 6,
               suptitle: str = "") -> None:
    """Grey (N x H x W) or colour (N x H x W x 3) images, integers 0..255 or floats in [0, 1], in a grid, each
    under its title; `wrong` ones in red. Grey is always light on black, as the datasets store it, whichever
    the number type."""
    rows = math.ceil(len(images) / cols)
    lines = max((str(t).count("\n") + 1 for t in titles), default=0)
    side, head = 1.3, 0.1 + 0.15 * lines  # inches: an image, and the room above it for its title
    cell_w, cell_h = side + 0.2, side + head + 0.1
    banner = 0.4 if suptitle else 0.0
    fig, ax = _canvas(cols * cell_w, banner + rows * cell_h)
    top = 255 if np.issubdtype(np.asarray(images).dtype, np.integer) else 1  # by type: a dark uint8 image is still 0..255
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        x, y = col * cell_w + 0.1, banner + row * cell_h + head
        _place(ax, image, x, y, side, top)
        if i < len(titles):
            bad = i < len(wrong) and wrong[i]
            ax.text(x + side / 2, y - 0.06, titles[i], ha="center", va="bottom", fontsize=8,
                    color="red" if bad else "black")
            if bad:
                ax.add_patch(Rectangle((x, y), side, side, fill=False, edgecolor="red", linewidth=2))
    if suptitle:
        ax.text(cols * cell_w / 2, banner / 2 + 0.05, suptitle, ha="center", va="center", fontsize=12)
    save_figure(fig, path, tight=False)


def reconstruction_grid(path: Path, originals, reconstructions, title: str = "") -> None:
    """Originals in the top row of each pair, their reconstructions just below."""
    n = len(originals)
    cols = min(n, 12)
    pairs = math.ceil(n / cols)
    side, gap, label = 0.9, 0.1, 0.25  # inches: an image, the space between, the column of row labels
    banner = 0.4 if title else 0.0
    fig, ax = _canvas(label + cols * (side + gap), banner + pairs * (2 * side + 3 * gap))
    for i in range(n):
        pair, col = divmod(i, cols)
        for k, (image, name) in enumerate(((originals[i], "original"), (reconstructions[i], "reconstruction"))):
            x, y = label + col * (side + gap), banner + pair * (2 * side + 3 * gap) + gap + k * (side + gap)
            _place(ax, image, x, y, side, 1)
            if col == 0:
                ax.text(label - 0.05, y + side / 2, name, rotation=90, ha="right", va="center", fontsize=7)
    if title:
        ax.text(label + cols * (side + gap) / 2, banner / 2 + 0.05, title, ha="center", va="center", fontsize=12)
    save_figure(fig, path, tight=False)


def curves(path: Path, x: Sequence[float], series: dict[str, Sequence[float]], xlabel: str, ylabel: str,
           title: str = "", logx: bool = False, logy: bool = False, marks: dict[str, float] | None = None,
           integer_x: bool = False, legend: str = "best") -> None:
    """Line plot of one or more named series against `x`; `marks` are labelled vertical lines at those x.

    `integer_x` keeps x ticks on whole numbers (epochs), never 1.5; `legend` is where the legend goes.
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
        log_x(ax, x)
    if logy:
        ax.set_yscale("log")
    if integer_x:
        whole_number_ticks(ax.xaxis)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc=legend)
    save_figure(fig, path)


def overlaid_curves(path: Path, panels: dict[str, dict[str, tuple[Sequence[float], Sequence[float]]]], xlabel: str,
                    title: str = "") -> None:
    """One panel per metric side by side, each with every labelled (x, y) curve of it overlaid; the labels once,
    below the panels (they name runs, and may be long)."""
    fig = Figure(figsize=(5.5 * len(panels) + 0.5, 4.5))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, lines) in zip(axes, panels.items()):
        for i, (label, (x, y)) in enumerate(lines.items()):
            ax.plot(x, y, marker="o" if len(x) <= 30 else None, markersize=3, label=label, color=f"C{i % 10}",
                    linestyle=("-", "--", ":", "-.")[i // 10 % 4])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        whole_number_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=1 if len(labels) > 6 else 2,
               fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def whole_number_ticks(axis) -> None:
    """Ticks on whole numbers only (epochs: never 1.5), one tick where the data has a single value (a 1-epoch run,
    which matplotlib would otherwise label 0.945 ... 1.05)."""
    axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def log_x(ax, x: Sequence[float]) -> None:
    """A log x axis. A grid sweep's few round values (at most six, each exact to 3 digits: 0.01, 0.1, 0.4) get a
    tick each and nowhere else, since the last one, 0.4, would otherwise fall between 0.2 and 0.5 unlabelled.
    Other values over less than three decades (a search's random rates) get 1, 2 and 5 of each decade written
    plainly (0.002, 0.005, 0.01), not matplotlib's crowded minor labels (2x10^-3 3x10^-3 4x10^-3 ...); under one
    decade, 1.5, 3 and 7 too, so that a narrow range still shows a few numbers (0.015, 0.02, 0.03)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:.3g}")
    if len(set(x)) <= 6 and all(float(f"{v:.3g}") == v for v in x):
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(x))))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_locator(NullLocator())
    elif max(x) / min(x) < 1000:
        subs = (1, 2, 5) if max(x) / min(x) >= 10 else (1, 1.5, 2, 3, 5, 7)
        ax.xaxis.set_major_locator(LogLocator(subs=subs))
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())


def smooth(values: Sequence[float], beta: float) -> list[float]:
    """Exponential moving average, bias-corrected (as in Adam), so the first values are not pulled to zero."""
    out, average = [], 0.0
    for i, v in enumerate(values):
        average = beta * average + (1 - beta) * v
        out.append(average / (1 - beta ** (i + 1)))
    return out


def loss_curves(path: Path, batch_losses: Sequence[float], history: Sequence[dict]) -> None:
    """losses.png: see `loss_figure`."""
    save_figure(loss_figure(batch_losses, history), path)


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
    whole_number_ticks(ax.xaxis)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def shown(images) -> np.ndarray:
    """N x C x H x W image tensors as matplotlib draws them: N x H x W when grey, N x H x W x 3 in colour."""
    return (images[:, 0] if images.shape[1] == 1 else images.permute(0, 2, 3, 1)).numpy()
