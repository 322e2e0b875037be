"""Hyper-parameter search with Optuna: each job returns one number (optimized_metric, the worst value when the
job fails), the direction follows the metric, a failed trial does not stop the study, and the report is written."""

from __future__ import annotations

import math

import pytest
import yaml

from minitrain.errors import ConfigError
from minitrain.cli import check_plugins
from minitrain.search import direction, metric_names, objective
from minitrain.train import check_config

SUMMARY = {
    "status": "completed",
    "final": {"epoch": 2, "train_loss": 0.9, "valid_loss": 0.8, "valid_accuracy": 0.7},
    "best": {"metric": "valid_accuracy", "value": 0.75},
}


@pytest.mark.parametrize("task, metric, expected", [
    ("classification", None, "maximize"), ("reconstruction", None, "minimize"),
    ("classification", "valid_loss", "minimize"), ("reconstruction", "valid_psnr", "maximize"),
])
def test_the_direction_follows_the_optimized_metric(task, metric, expected):
    assert direction(task, metric) == expected


def test_a_job_returns_its_best_epoch_metric_by_default_and_any_named_one_on_request():
    assert objective(SUMMARY, "classification") == 0.75
    assert objective(SUMMARY, "classification", "best_valid_accuracy") == 0.75
    assert objective(SUMMARY, "classification", "valid_loss") == 0.8


@pytest.mark.parametrize("status", ["failed", "diverged"])
def test_a_job_that_did_not_complete_returns_the_worst_value_for_the_direction(status):
    summary = {**SUMMARY, "status": status}
    assert objective(summary, "classification") == -math.inf
    assert objective(summary, "classification", "valid_loss") == math.inf


def test_a_job_without_the_metric_returns_the_worst_value_and_does_not_fail():
    lr_find = {"status": "completed", "final": {}, "best": None}  # lr_find=true trains no epoch
    assert objective(lr_find, "classification") == -math.inf
    assert objective(SUMMARY, "classification", "valid_psnr") == -math.inf


@pytest.mark.parametrize("task, names", [
    ("classification", ["train_loss", "valid_loss", "valid_accuracy", "best_valid_accuracy"]),
    ("reconstruction", ["train_loss", "valid_loss", "valid_psnr", "best_valid_loss"]),
])
def test_the_metrics_a_search_can_optimise_are_the_sweep_report_columns_of_the_task(task, names):
    assert metric_names(task) == names


def test_an_unknown_optimized_metric_is_refused_before_training_naming_the_choices(compose_config):
    with pytest.raises(ConfigError, match="optimized_metric=valid_psnr must be one of train_loss, valid_loss, "
                                          "valid_accuracy, best_valid_accuracy"):
        check_config(compose_config("optimized_metric=valid_psnr"))
    check_config(compose_config("model=autoencoder", "optimized_metric=valid_psnr"))


def test_the_optuna_sweeper_without_its_plugin_says_which_extra_brings_it(monkeypatch, capsys):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit) as exit_info:
        check_plugins(["-m", "hydra/sweeper=optuna"])
    assert exit_info.value.code == 2
    assert 'pip install "minitrain[scale]"' in capsys.readouterr().err


def test_choosing_the_optuna_sweeper_gives_the_direction_of_the_metric_unless_one_is_given(compose_config):
    sweeper = lambda *args: compose_config("hydra/sweeper=optuna", *args, return_hydra_config=True).hydra.sweeper  # noqa: E731
    assert sweeper().direction == "maximize"
    assert sweeper("optimized_metric=valid_loss").direction == "minimize"
    assert sweeper("hydra.sweeper.direction=minimize").direction == "minimize"


@pytest.mark.parametrize("model, expected", [("cnn", "maximize"), ("autoencoder", "minimize")])
def test_the_optuna_sweepers_direction_resolves_from_the_models_task(model, expected, compose_config):
    cfg = compose_config("hydra/sweeper=optuna", f"model={model}", return_hydra_config=True)
    assert cfg.hydra.sweeper.direction == expected


def test_the_cnn_preset_searches_lr_weight_decay_and_batch_size_for_the_best_accuracy(compose_config):
    cfg = compose_config("hparams_search=cnn_optuna", return_hydra_config=True)
    assert cfg.hydra.sweeper._target_ == "hydra_plugins.minitrain_sweepers.optuna_sweeper.OptunaSweeper"
    assert (str(cfg.hydra.mode), cfg.hydra.sweeper.direction, cfg.optimized_metric) == (
        "RunMode.MULTIRUN", "maximize", "best_valid_accuracy")
    assert set(cfg.hydra.sweeper.params) == {"optimizer.lr", "optimizer.weight_decay", "loader.batch_size"}
    assert cfg.model._target_ == "minitrain.models.CNN"


@pytest.fixture(scope="module")
def studies(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """Three small studies side by side: the issue's command (3 trials, lr on a log scale), a grid whose first
    value cannot train, and the CNN preset (2 trials)."""
    base = tmp_path_factory.mktemp("studies")
    data = [*fakes.tiny, f"dataset.path={dataset_dirs['idx']}"]
    args = {
        "tpe": ["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.seed=0",
                "optimizer.lr=tag(log,interval(0.001,0.1))", *data],
        "failing": ["-m", "hydra/sweeper=optuna", "hydra/sweeper/sampler=grid", "optimizer.lr=choice(-1,0.05)", *data],
        "preset": ["hparams_search=cnn_optuna", "hydra.sweeper.n_trials=2", "trainer.epochs=1",
                   "callbacks.images.n_images=12", f"dataset.path={dataset_dirs['idx']}"],
    }
    done = run_cli_many({name: (base / name, [*a, f"hydra.sweep.dir={base / name / 'sweep'}"], {})
                         for name, a in args.items()})
    return {name: (base / name / "sweep", proc) for name, proc in done.items()}


def results(sweep_dir):
    return yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())


def test_a_three_trial_study_maximises_accuracy_and_writes_its_reports(studies, fakes):
    sweep_dir, proc = studies["tpe"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [r["status"] for r in rows] == ["completed"] * 3
    best = max(rows, key=lambda r: float(r["best_valid_accuracy"]))
    assert results(sweep_dir)["best_value"] == pytest.approx(float(best["best_valid_accuracy"]))
    assert results(sweep_dir)["best_params"]["optimizer.lr"] == pytest.approx(float(best["optimizer.lr"]))
    assert all(0.001 <= float(r["optimizer.lr"]) <= 0.1 for r in rows)
    assert fakes.is_png(sweep_dir / "sweep.png")
    assert "optimization_results.yaml" in proc.stdout  # the report says what it wrote


def test_a_failed_trial_is_the_worst_and_the_study_goes_on(studies, fakes):
    sweep_dir, proc = studies["failing"]
    assert proc.returncode == 1  # the report says a job failed ...
    assert "1 of 2 jobs did not complete" in proc.stderr
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert sorted((r["optimizer.lr"], r["status"]) for r in rows) == [("-1", "failed"), ("0.05", "completed")]
    assert results(sweep_dir)["best_params"] == {"optimizer.lr": 0.05}  # ... and the study still found its best


def test_the_cnn_preset_runs_as_a_search_without_dash_m(studies, fakes):
    sweep_dir, proc = studies["preset"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    header, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert len(rows) == 2 and {"optimizer.lr", "optimizer.weight_decay", "loader.batch_size"} <= set(header)
    assert {r["model_class"] for r in rows} == {"minitrain.models.CNN"}
    assert set(results(sweep_dir)["best_params"]) == {"optimizer.lr", "optimizer.weight_decay", "loader.batch_size"}
