"""Figures a person looks at: the loss plot's curves and axes, and one grey scale for every image grid."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from minitrain.reports import figures
from minitrain.reports.figures import image_grid, loss_figure, smooth


def tick_labels(fig, axis: str) -> list[str]:
    """The labels of the ticks inside the axis' limits, as drawn."""
    FigureCanvasAgg(fig).draw()  # tick labels exist once drawn
    ax = fig.axes[0]
    ticks, labels, (lo, hi) = ((ax.get_xticks(), ax.get_xticklabels(), ax.get_xlim()) if axis == "x" else
                               (ax.get_yticks(), ax.get_yticklabels(), ax.get_ylim()))
    return [label.get_text() for tick, label in zip(ticks, labels) if lo <= tick <= hi]


def test_a_one_epoch_loss_plot_spreads_its_batches_from_0_to_1_on_plain_axes():
    batch_losses = list(np.linspace(2.3, 0.8, 20))
    fig = loss_figure(batch_losses, [{"epoch": 1, "train_loss": 1.7, "valid_loss": 1.1}])
    ax = fig.axes[0]
    assert ax.get_xlim()[0] == 0 and 1 <= ax.get_xlim()[1] < 1.1
    assert [float(t.replace("\u2212", "-")) for t in tick_labels(fig, "x")] == [0.0, 1.0]  # whole epochs only
    assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    assert all(t.replace(".", "").isdigit() for t in tick_labels(fig, "y"))  # 0.5, 1.0, ...: no 1.7x10^0
    batch_lines = [line for line in ax.lines if len(line.get_xdata()) == 20]
    assert len(batch_lines) == 2  # the raw losses and their smoothed curve
    assert batch_lines[0].get_xdata()[-1] == 1.0 and batch_lines[0].get_xdata()[0] == 0.05
    points = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines}
    assert points["valid_loss per epoch"] == ([1], [1.1]) and points["train_loss per epoch"] == ([1], [1.7])


def test_smoothing_is_bias_corrected_and_follows_the_trend():
    assert smooth([2.0, 2.0, 2.0], beta=0.9) == [2.0, 2.0, 2.0]  # not pulled towards zero at the start
    smoothed = smooth([1.0, 0.0] * 50, beta=0.9)
    assert 0.4 < smoothed[-1] < 0.6


def test_integer_and_float_images_are_drawn_in_the_same_grey_scale_light_on_black(tmp_path):
    uint8 = np.zeros((1, 28, 28), dtype=np.uint8)
    uint8[0, :, 14:] = 255  # right half bright
    image_grid(tmp_path / "samples.png", uint8, ["x"], cols=1)
    image_grid(tmp_path / "predictions.png", uint8.astype(np.float32) / 255, ["x"], cols=1)
    samples, predictions = (np.asarray(Image.open(tmp_path / f).convert("L")) for f in ("samples.png", "predictions.png"))
    assert np.array_equal(samples, predictions)
    row = samples[samples.shape[0] // 2]
    dark, light = row[: len(row) // 2], row[len(row) // 2 :]
    assert dark.min() == 0 and light.max() == 255  # black background on the left, white block on the right


def test_a_sweeps_few_learning_rates_are_each_labelled_on_its_log_axis(tmp_path, drawn_figures):
    figures.curves(tmp_path / "sweep.png", [0.01, 0.1, 0.4], {"valid_accuracy": [0.88, 0.78, 0.1]}, "optimizer.lr",
                   "final valid_accuracy", logx=True)
    assert tick_labels(drawn_figures[0], "x") == ["0.01", "0.1", "0.4"]


def test_a_long_log_axis_keeps_its_decade_ticks(tmp_path, drawn_figures):
    rates = [1e-7 * 1.2 ** k for k in range(100)]
    figures.curves(tmp_path / "lr_find.png", rates, {"loss": [2.3] * 100}, "learning rate", "loss", logx=True)
    assert len(tick_labels(drawn_figures[0], "x")) >= 5


def test_runs_of_one_epoch_get_one_whole_epoch_tick(tmp_path, drawn_figures):
    lines = {"run a": ([1], [0.85]), "run b": ([1], [0.89])}
    figures.overlaid_curves(tmp_path / "compare.png", {"valid_accuracy": lines}, "epoch")
    assert tick_labels(drawn_figures[0], "x") == ["1"]
    figures.curves(tmp_path / "metrics.png", [1], {"valid_accuracy": [0.85]}, "epoch", "accuracy", integer_x=True)
    assert tick_labels(drawn_figures[1], "x") == ["1"]
