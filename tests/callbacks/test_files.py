"""The run files written by callbacks: metrics.csv after every epoch, summary.json however the fit ends."""

from __future__ import annotations

import csv
import json

import pytest

from minitrain.callbacks import CSVLoggerCallback, MetricsCallback, SummaryCallback
from minitrain.callbacks.files import status_of
from minitrain.errors import DivergedError
from minitrain.learner import Callback, CancelEpochException, CancelFitException, Learner
from minitrain.metrics import Accuracy
from conftest import toy_fit


class StopAt(Callback):
    """Raises `exception` at the start of epoch `epoch`'s training pass."""

    def __init__(self, epoch: int, exception: BaseException) -> None:
        self.epoch, self.exception = epoch, exception

    def before_epoch(self, learn):
        if learn.training and learn.epoch == self.epoch:
            raise self.exception


def fit(run_dir, n_epochs: int, *extra: Callback) -> Learner:
    return toy_fit(MetricsCallback({"accuracy": Accuracy}), CSVLoggerCallback(), SummaryCallback("toy", "linear"),
                   *extra, epochs=n_epochs, run_dir=run_dir, valid_sizes=(4, 4))


def read_rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_metrics_csv_holds_one_row_per_finished_epoch(tmp_path):
    fit(tmp_path, 3)
    rows = read_rows(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]


def test_a_fit_that_fails_keeps_the_metrics_of_the_epochs_it_finished_and_says_why(tmp_path):
    with pytest.raises(RuntimeError):
        fit(tmp_path, 3, StopAt(2, RuntimeError("disk on fire")))
    assert [r["epoch"] for r in read_rows(tmp_path / "metrics.csv")] == ["1", "2"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "disk on fire" in summary["error"]
    assert (summary["epochs_completed"], summary["epochs_planned"]) == (2, 3)


def test_the_summary_of_a_completed_fit(tmp_path):
    learn = fit(tmp_path, 2)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and "error" not in summary
    assert (summary["dataset"], summary["model"], summary["device"]) == ("toy", "linear", "cpu")
    assert summary["world_size"] == 1  # one process trained (torchrun's world size otherwise)
    assert summary["parameters"] == 4 * 3 + 3
    assert summary["final"] == learn.history[-1]
    best = max(learn.history, key=lambda r: r["valid_accuracy"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["best"] == {"metric": "valid_accuracy", "value": best["valid_accuracy"]}


def test_a_fit_stopped_early_by_a_callback_is_not_a_failure(tmp_path):
    # CancelFitException is how a callback stops training early (e.g. early stopping).
    fit(tmp_path, 3, StopAt(1, CancelFitException()))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and "error" not in summary
    assert summary["epochs_completed"] == 1


def test_a_fit_whose_callback_cut_a_training_pass_short_completes(tmp_path):
    class OneBatchPerEpoch(Callback):
        def after_batch(self, learn):
            if learn.training:
                raise CancelEpochException()

    fit(tmp_path, 2, OneBatchPerEpoch())
    assert [r["epoch"] for r in read_rows(tmp_path / "metrics.csv")] == ["1", "2"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and "error" not in summary


@pytest.mark.parametrize(
    "exception, status",
    [(None, "completed"), (KeyboardInterrupt(), "interrupted"), (DivergedError("nan"), "diverged"),
     (ValueError("x"), "failed")],
)
def test_status_of_names_how_the_fit_ended(exception, status):
    assert status_of(exception) == status


def test_the_summary_records_how_many_torchrun_processes_trained(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")  # what torchrun sets in every process it starts
    fit(tmp_path, 1)
    assert json.loads((tmp_path / "summary.json").read_text())["world_size"] == 4
