"""The sweep report as a person reads it: the terminal table of a search fits in 80 columns without breaking a
number or a word, and sweep.png's bar labels carry short numbers, not an Optuna trial's 16 digits."""

from __future__ import annotations

import re

from matplotlib.backends.backend_agg import FigureCanvasAgg
from rich.console import Console

from minitrain.reports.sweep import _plot, sweep_table
from minitrain.reports.table import short

TRIALS = [  # an Optuna search over three keys, as sweep.csv's rows hold them: the overrides as text
    {"job": "0", "optimizer.lr": "0.0007247031604703160", "optimizer.weight_decay": "0.00012345678901234",
     "loader.batch_size": "128", "status": "completed", "train_loss": 0.30381234, "valid_loss": 0.34384, "valid_accuracy": 0.87421},
    {"job": "1", "optimizer.lr": "0.08012345678", "optimizer.weight_decay": "0.0301", "loader.batch_size": "64",
     "status": "completed", "train_loss": 0.4818, "valid_loss": 0.5029, "valid_accuracy": 0.811},
    {"job": "2", "optimizer.lr": "0.0017", "optimizer.weight_decay": "1e-05", "loader.batch_size": "256",
     "status": "diverged", "error": "the loss became nan"},
]


def test_numbers_are_cut_to_four_significant_digits_and_whole_numbers_and_words_kept():
    assert short("0.0007247031604703160") == "0.0007247"
    assert short("0.0017") == "0.0017" and short("1e-05") == "1e-05" and short("128") == "128"
    assert short(0.87421) == "0.8742" and short(1.23456) == "1.235" and short("adamw") == "adamw" and short(None) == ""
    assert short("12345678") == "12345678" and short(12345678) == "12345678" and short(True) == "True"


def test_a_three_key_search_fits_in_80_columns_with_every_number_and_word_whole():
    console = Console(width=80, record=True, color_system=None)
    console.print(sweep_table(TRIALS))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    rows = [line.split() for line in lines if re.match(r"\s*\d+\s", line)]
    assert rows[0] == ["0", "0.0007247", "0.0001235", "128", "completed", "0.3038", "0.3438", "0.8742"]
    assert rows[2] == ["2", "0.0017", "1e-05", "256", "diverged"]
    header = " ".join(lines[: lines.index(next(line for line in lines if "─" in line))])
    for word in ("optimizer.", "weight_", "decay", "batch_", "size", "status", "accuracy"):
        assert word in header.split()  # folded after . and _, never inside a word


def test_sweep_png_of_a_search_labels_its_bars_with_short_numbers(tmp_path, drawn_figures):
    assert _plot(tmp_path / "sweep.png", TRIALS)
    FigureCanvasAgg(drawn_figures[0]).draw()
    # horizontal bars, unrotated labels
    labels = [label.get_text() for label in drawn_figures[0].axes[0].get_yticklabels()]
    assert labels == ["job 0: lr=0.0007247 weight_decay=0.0001235 batch_size=128",
                      "job 1: lr=0.08012 weight_decay=0.0301 batch_size=64"]


def test_sweep_png_of_a_few_rates_labels_its_log_axis_plainly(tmp_path, drawn_figures):
    rows = [{"job": str(i), "optimizer.lr": lr, "status": "completed", "valid_accuracy": acc}
            for i, (lr, acc) in enumerate([("0.008367743772032012", 0.858), ("0.03124", 0.841), ("0.001556", 0.845)])]
    assert _plot(tmp_path / "sweep.png", rows)
    FigureCanvasAgg(drawn_figures[0]).draw()
    ax = drawn_figures[0].axes[0]
    lo, hi = ax.get_xlim()
    labels = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi]
    assert labels == ["0.002", "0.005", "0.01", "0.02"]
    assert not any(t.get_text() for t in ax.get_xticklabels(minor=True))  # no 2x10^-3 3x10^-3 ... crowd
