"""Early stopping: the fit ends once the best-epoch metric has not improved for `patience` epochs, and says so."""

from __future__ import annotations

import json

import pytest
import torch

from minitrain.callbacks import CheckpointCallback, MetricsCallback, SummaryCallback
from minitrain.callbacks.early_stop import EarlyStoppingCallback
from minitrain.learner import Learner
from conftest import Scripted, toy_fit


def fit(run_dir, accuracies, patience, epochs=None, resume=None) -> Learner:
    return toy_fit(MetricsCallback(), Scripted(accuracies), SummaryCallback("toy", "linear"),
                   CheckpointCallback(resume=resume), EarlyStoppingCallback(patience),
                   epochs=epochs or len(accuracies), run_dir=run_dir)


@pytest.mark.parametrize("accuracies, patience, stopped", [
    ([0.5, 0.6, 0.6, 0.6, 0.7, 0.8], 2, 4),   # best at epoch 2, then two epochs without a better one
    ([0.5, 0.4, 0.6, 0.5, 0.7, 0.8], 2, None),  # never two epochs in a row without a new best
    ([0.5, 0.5, 0.9, 0.9, 0.9, 0.9], 1, 2),   # a tie is no improvement
])
def test_the_fit_stops_after_patience_epochs_without_a_better_monitored_metric(tmp_path, accuracies, patience, stopped):
    learn = fit(tmp_path, accuracies, patience)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(learn.history) == (stopped or len(accuracies))
    assert summary["status"] == "completed"
    assert (summary["stopped_early"], summary["stopped_epoch"]) == (stopped is not None, stopped)
    assert summary["epochs_completed"] == (stopped or len(accuracies))


def test_stopping_on_the_last_epoch_is_not_stopping_early(tmp_path):
    fit(tmp_path, [0.9, 0.5, 0.5], patience=2)
    assert json.loads((tmp_path / "summary.json").read_text())["stopped_early"] is False


def test_a_resumed_run_stops_where_an_unbroken_one_would(tmp_path):
    accuracies = [0.5, 0.8, 0.7, 0.7, 0.7, 0.9]
    fit(tmp_path / "first", accuracies, patience=3, epochs=3)  # interrupted after epoch 3, one epoch past the best
    fit(tmp_path / "resumed", accuracies, patience=3, resume=str(tmp_path / "first"))
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert (summary["stopped_early"], summary["stopped_epoch"], summary["best_epoch"]) == (True, 5, 2)


def test_the_patience_comes_from_the_trainer_config_and_must_be_positive(compose_config):
    from minitrain.errors import ConfigError
    from minitrain.checks import check_config
    from minitrain.build import CALLBACK_GROUPS, RunContext

    def recipe_callbacks(cfg):  # the group of build_callbacks that early stopping comes from
        return CALLBACK_GROUPS["early_stop"](cfg, RunContext(torch.device("cpu")))

    assert not [cb for cb in recipe_callbacks(compose_config("model=mlp")) if isinstance(cb, EarlyStoppingCallback)]
    cfg = compose_config("model=autoencoder", "trainer.early_stop_patience=3")
    stop, = [cb for cb in recipe_callbacks(cfg) if isinstance(cb, EarlyStoppingCallback)]
    assert (stop.patience, stop.spec.monitor) == (3, "valid_loss")
    with pytest.raises(ConfigError, match=r"trainer\.early_stop_patience=0 must be at least 1"):
        check_config(compose_config("trainer.early_stop_patience=0"))
