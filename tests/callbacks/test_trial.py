"""A search's trial: every epoch reports what the run would return to the search, and a pruned run stops after the
epoch it was pruned at, with every file of a finished run and "pruned" in its summary."""

from __future__ import annotations

import json

import pytest

from minitrain.callbacks import CheckpointCallback, CSVLoggerCallback, MetricsCallback, SummaryCallback
from minitrain.callbacks.trial import TrialCallback
from conftest import Scripted, read_csv, toy_fit


class FakeTrial:
    """Optuna's trial as the callback uses it: the reports it got, and pruning from epoch `prune_at` on."""

    def __init__(self, prune_at: int | None = None) -> None:
        self.prune_at, self.reports = prune_at, {}

    def report(self, value: float, step: int) -> None:
        self.reports[step] = value

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.reports) >= self.prune_at


def fit(run_dir, trial, accuracies=(0.5, 0.7, 0.6, 0.8), metric=None):
    return toy_fit(MetricsCallback(), Scripted(list(accuracies)), CSVLoggerCallback(), SummaryCallback("toy", "linear"),
                   CheckpointCallback(), TrialCallback(trial, "classification", metric), epochs=len(accuracies),
                   run_dir=run_dir)


@pytest.mark.parametrize("metric, expected", [
    (None, {1: 0.5, 2: 0.7, 3: 0.7, 4: 0.8}),            # best_valid_accuracy: the best epoch so far
    ("valid_accuracy", {1: 0.5, 2: 0.7, 3: 0.6, 4: 0.8}),  # the epoch's own value
])
def test_every_epoch_reports_what_the_run_would_return_to_the_search_at_step_epoch(tmp_path, metric, expected):
    trial = FakeTrial()
    fit(tmp_path, trial, metric=metric)
    assert trial.reports == pytest.approx(expected)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"


def test_a_pruned_run_stops_after_that_epoch_and_keeps_a_complete_run_directory(tmp_path):
    learn = fit(tmp_path, FakeTrial(prune_at=2))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(learn.history) == 2
    assert (summary["status"], summary["stopped_epoch"], summary["stopped_by"]) == ("pruned", 2, "TrialCallback")
    assert summary["epochs_completed"] == 2 and summary["stopped_early"] is False  # early stopping did not stop it
    assert [row["epoch"] for row in read_csv(tmp_path / "metrics.csv")[1]] == ["1", "2"]
    assert (tmp_path / "checkpoints" / "last.pt").is_file() and (tmp_path / "checkpoints" / "best.pt").is_file()


def test_the_last_epoch_is_never_pruned(tmp_path):
    fit(tmp_path, FakeTrial(prune_at=4))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["stopped_epoch"], summary["epochs_completed"]) == ("completed", None, 4)
