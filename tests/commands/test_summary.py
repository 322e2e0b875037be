"""`minitrain summary`: the configured model's layers on one batch, with shapes, parameters and multiply-adds."""

from __future__ import annotations

import torch
from torch import nn

from minitrain.commands.summary import layer_rows, multiply_adds, parse, table_lines
from minitrain.models import CNN


def test_out_is_the_commands_own_option_and_everything_else_an_override():
    opts = parse(["model=resnet", "out=/tmp/x", "loader.batch_size=8"])
    assert opts.overrides == ["model=resnet", "loader.batch_size=8"] and opts.out == "/tmp/x"


def test_each_layer_has_its_shapes_parameters_and_multiply_adds_in_the_order_it_ran():
    rows = layer_rows(CNN(), torch.zeros(8, 1, 28, 28))
    first = rows[0]
    assert (first.name, first.kind, first.inputs, first.output) == ("0.0", "Conv2d", ((8, 1, 28, 28),), (8, 4, 14, 14))
    assert first.params == 4 * 9 + 4 and first.macs == 8 * 4 * 14 * 14 * 9
    assert [r.kind for r in rows][-2:] == ["AdaptiveAvgPool2d", "Flatten"]
    assert sum(r.params for r in rows) == sum(p.numel() for p in CNN().parameters())


def test_linear_and_transposed_conv_multiply_adds():
    x = torch.zeros(2, 5)
    linear = nn.Linear(5, 3)
    assert multiply_adds(linear, (x,), linear(x)) == 2 * 3 * 5
    up = nn.ConvTranspose2d(4, 2, 2, stride=2)
    y = torch.zeros(1, 4, 3, 3)
    assert multiply_adds(up, (y,), up(y)) == 1 * 4 * 3 * 3 * 2 * 2 * 2
    assert multiply_adds(nn.ReLU(), (x,), x) == 0


def test_the_last_line_holds_the_totals():
    rows = layer_rows(CNN(), torch.zeros(2, 1, 28, 28))
    lines = table_lines(rows, 5274)
    assert lines[-1][0] == "total" and lines[-1][4] == "5,274"
    assert lines[-1][5] == f"{sum(r.macs for r in rows):,}"


def test_minitrain_summary_prints_the_table_and_writes_summary_md_without_training(tmp_path, dataset_dirs, run_cli):
    proc = run_cli(tmp_path, "summary", "model=cnn", "loader.batch_size=16", f"dataset.path={dataset_dirs['idx']}",
                   f"out={tmp_path / 'report'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Conv2d" in proc.stdout and "16x1x28x28" in proc.stdout and "total" in proc.stdout
    text = (tmp_path / "report" / "summary.md").read_text()
    assert text.startswith("# CNN on a batch of 16x1x28x28") and "| total |" in text
    assert not (tmp_path / "outputs").exists()  # no run directory: nothing trained


def test_a_bad_override_exits_2_with_a_message(tmp_path, run_cli):
    proc = run_cli(tmp_path, "summary", "model=nosuchmodel")
    assert proc.returncode == 2 and "nosuchmodel" in proc.stderr
