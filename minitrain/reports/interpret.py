"""Figures that explain a trained classifier: the confusion matrix and the images it got most confidently wrong."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from minitrain.reports.figures import Figure, save_figure, image_grid


def confusion_matrix_figure(path: Path, matrix: np.ndarray, classes: Sequence[str], title: str = "") -> None:
    """Counts with true classes down the rows and predicted classes across, each cell labelled."""
    n = len(classes)
    size = max(5.0, 0.55 * n + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels=classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels=classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    dark = matrix.max() / 2 if matrix.size else 0
    if n <= 30:  # beyond that the numbers would not fit their cells
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if count > dark else "black")
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def top_losses_figure(path: Path, images: np.ndarray, titles: Sequence[str]) -> None:
    """The given images (N x H x W grey, or N x H x W x C colour) under their titles, all marked wrong."""
    image_grid(path, images, titles, wrong=[True] * len(titles), cols=min(len(titles), 4) or 1)
