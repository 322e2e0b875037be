"""`minitrain compare`: runs and sweep folders side by side, in a table of what differs with their final and best
metrics and wall time (terminal and compare.csv) and one figure of their validation curves, without torch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from rich.console import Console

from conftest import TINY, cli_env
from minitrain.commands import run_command
from minitrain.commands.compare import curves, differing, label, print_table, read_run

# `minitrain compare ...` through the CLI's own entry point, then whether torch was imported along the way
COMPARE = "import sys; from minitrain.cli import main; sys.argv = ['minitrain', 'compare', *sys.argv[1:]]; " \
          "main(); print('torch imported:', 'torch' in sys.modules)"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, dataset_dirs, run_cli):
    """A finished two-job learning-rate sweep."""
    base = tmp_path_factory.mktemp("compare-sweep")
    proc = run_cli(base, "-m", "optimizer.lr=0.001,0.002", *TINY, f"dataset.path={dataset_dirs['idx']}",
                   f"hydra.sweep.dir={base / 'sweep'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base / "sweep"


def compare(tmp_path, *args):
    return subprocess.run([sys.executable, "-c", COMPARE, *map(str, args)], cwd=tmp_path, env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120)


def test_three_runs_from_a_run_and_a_sweep_folder_in_one_table_and_one_figure(tmp_path, trained_runs, sweep, fakes):
    run = trained_runs["classifier"]  # optimizer.lr=0.001, two epochs; the sweep's jobs train one
    proc = compare(tmp_path, run, sweep, f"out={tmp_path / 'report'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch imported: False" in proc.stdout
    header, rows = fakes.read_csv(tmp_path / "report" / "compare.csv")
    folders = [run.resolve(), (sweep / "0").resolve(), (sweep / "1").resolve()]
    assert [r["path"] for r in rows] == [str(f) for f in folders]
    common = os.path.commonpath(folders)  # the table and the figure name each run below the folder all share
    assert [r["run"] for r in rows] == [os.path.relpath(f, common) for f in folders]
    assert {"optimizer.lr", "trainer.epochs"} <= set(header) and "model._target_" not in header  # only what differs
    assert [(r["optimizer.lr"], r["trainer.epochs"], r["status"]) for r in rows] == [
        ("0.001", "2", "completed"), ("0.001", "1", "completed"), ("0.002", "1", "completed")]
    for r, folder in zip(rows, [run, sweep / "0", sweep / "1"]):
        summary = json.loads((folder / "summary.json").read_text())
        assert float(r["final_valid_accuracy"]) == pytest.approx(summary["final"]["valid_accuracy"])
        assert float(r["best_valid_accuracy"]) == pytest.approx(summary["best"]["value"])
        assert float(r["wall_seconds"]) == pytest.approx(summary["wall_seconds"])
    assert "3 runs compared" in proc.stdout and "optimizer." in proc.stdout  # headers fold after the dot
    assert fakes.is_png(tmp_path / "report" / "compare.png")


def test_each_curve_is_labelled_by_what_differs_and_each_metric_has_its_panel(trained_runs):
    runs = [read_run(trained_runs[name], name) for name in ("classifier", "autoencoder")]
    keys = differing(runs)
    assert "model._target_" in keys and "optimizer.lr" in keys
    assert label(runs[0], keys).startswith("classifier: ")
    panels = curves(runs, keys)
    assert set(panels) == {"valid_loss", "valid_accuracy", "valid_psnr"}
    assert [len(lines) for lines in panels.values()] == [2, 1, 1]  # valid_loss for both, one metric each
    assert list(panels["valid_accuracy"].values())[0][0] == [1.0, 2.0]  # the classifier's two epochs


@pytest.mark.parametrize("args, message", [
    (["{empty}"], "is neither a run (no summary.json, metrics.csv or checkpoints/ in it) nor a sweep of runs"),
    (["{empty}/missing"], "does not exist"),
    (["model=mlp"], "'model=mlp' is not a folder. It takes run or sweep folders and out=FOLDER"),
    ([], "needs at least one run or sweep folder"),
])
def test_a_folder_that_holds_no_run_gets_one_line_and_exit_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        run_command("compare", [a.format(empty=tmp_path) for a in args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: minitrain compare") and message in err[0]


def test_runs_of_different_presets_keep_their_metrics_in_80_columns_and_say_how_many_keys_are_left_out():
    # a preset against the default: seven differing keys, far wider than a terminal beside the metrics
    keys = ["model._target_", "model.image_size", "model.hidden", "optimizer.weight_decay", "trainer.label_smoothing",
            "model.channels", "model.batch_norm"]
    values = [["minitrain.models.MLP", "28", "50", "0.01", "0.0", "", ""],
              ["minitrain.models.CNN", "", "", "0.05", "0.1", "[16, 32, 64, 128]", "True"]]
    rows = [{"run": name, **dict(zip(keys, cells)), "status": "completed", "epochs": 5, "final_valid_loss": loss,
             "final_valid_accuracy": accuracy, "best_valid_accuracy": accuracy, "best_epoch": 5, "wall_seconds": 38.2}
            for name, cells, loss, accuracy in [("outputs/2026-12-05/07-16-17", values[0], 0.3945, 0.8561),
                                                ("outputs/2026-12-05/07-20-02", values[1], 0.2213, 0.9212)]]
    columns = list(rows[0])
    console = Console(width=80, record=True, color_system=None)

    print_table(rows, columns, keys, console=console)

    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    assert "0.8561" in text and "0.9212 @5" in text and "38.2" in text  # the metrics and the time, whole
    left_out = re.search(r"\((\d) more differing keys in compare.csv\)", text)
    assert left_out and 0 < int(left_out.group(1)) <= len(keys)

    wide = Console(width=200, record=True, color_system=None)
    print_table(rows, columns, keys, console=wide)
    text = wide.export_text()
    assert "more differing" not in text and "[16, 32, 64, 128]" in text
