"""The activation-statistics figures (the course's color_dim, dead_chart and plot_stats) as PNG files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only; never try to open a window
from matplotlib.figure import Figure  # noqa: E402

from minitrain.atomic import write_atomic  # noqa: E402


def _save(fig: Figure, path: Path) -> None:
    """Write the figure as a PNG, atomically."""
    fig.tight_layout()
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100), mode="wb")


def _grid(n: int, title: str) -> tuple[Figure, list]:
    """A figure with one Axes per layer, up to 4 a row (the course's get_grid), and a title above them."""
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows + 0.4))
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    fig.suptitle(title)
    return fig, axes


def color_dim(path: Path, names: Sequence[str], histograms: Sequence[np.ndarray], max_value: float) -> None:
    """Per layer, the log(1 + count) histogram of |activation| (bins up the y axis) for each batch (x axis)."""
    fig, axes = _grid(len(names), "log histogram of |activation| per training batch")
    for ax, name, hist in zip(axes, names, histograms):
        ax.imshow(np.log1p(hist.T), origin="lower", aspect="auto", cmap="viridis",
                  extent=(0, hist.shape[0], 0, max_value))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("batch")
        ax.set_ylabel("|activation|")
    _save(fig, path)


def dead_chart(path: Path, names: Sequence[str], dead: Sequence[Sequence[float]], near_zero: float) -> None:
    """Per layer, the share of activations with |a| below `near_zero`, batch by batch, on a 0..1 scale."""
    fig, axes = _grid(len(names), f"share of activations near zero (|a| < {near_zero:.3g})")
    for ax, name, shares in zip(axes, names, dead):
        ax.plot(shares)
        ax.set_ylim(0, 1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("batch")
        ax.grid(alpha=0.3)
    _save(fig, path)


def stats_chart(path: Path, names: Sequence[str], means: Sequence[Sequence[float]],
                stds: Sequence[Sequence[float]]) -> None:
    """Two panels: each layer's activation mean, and its standard deviation, batch by batch."""
    fig = Figure(figsize=(11, 4))
    for i, (title, series) in enumerate((("means", means), ("standard deviations", stds))):
        ax = fig.add_subplot(1, 2, i + 1)
        for name, values in zip(names, series):
            ax.plot(values, label=name)
        ax.set_title(f"activation {title}")
        ax.set_xlabel("batch")
        ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
