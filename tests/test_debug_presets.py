"""The `debug` group end to end: a smoke test in seconds, one batch memorised, anomaly mode; and early
stopping from the command line."""

from __future__ import annotations


import pytest
from conftest import completed, summary_of


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    base = tmp_path_factory.mktemp("debug")
    data = f"dataset.path={dataset_dirs['idx']}"
    jobs = {
        "fast": ["debug=fast", "model=cnn", "logger=[csv,tensorboard]"],
        "overfit": ["debug=overfit", "model=mlp"],
        # the fake data is learnt in one epoch: valid_accuracy cannot beat 1.0 afterwards
        "early": [*fakes.tiny, "trainer.epochs=6", "trainer.early_stop_patience=2"],
    }
    done = run_cli_many({name: (base / name, [*args, data, "hydra.run.dir=run"], {}) for name, args in jobs.items()})
    return {name: (base / name / "run", proc) for name, proc in done.items()}


def test_debug_fast_trains_two_batches_for_one_epoch_and_saves_no_checkpoint(runs, fakes):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = completed(runs["fast"])
    summary = summary_of(run_dir)
    assert (summary["status"], summary["epochs_completed"]) == ("completed", 1)
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("batch/train_loss")] == [1, 2]
    assert not (run_dir / "checkpoints").exists()
    assert fakes.is_png(run_dir / "losses.png") and fakes.is_png(run_dir / "predictions.png")


def test_debug_overfit_drives_the_training_loss_of_one_batch_to_near_zero(runs, fakes):
    run_dir, _ = completed(runs["overfit"])
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    losses = [float(r["train_loss"]) for r in rows]
    assert len(rows) == 8 and losses[-1] < 0.01 < losses[0]  # the first pass starts from chance (2.3)
    assert float(rows[-1]["valid_loss"]) < 0.05  # validated on the very batch it memorised
    assert not (run_dir / "checkpoints").exists()


def test_debug_anomaly_turns_on_anomaly_mode_deterministic_algorithms_and_no_workers(compose_config):
    cfg = compose_config("debug=anomaly")
    assert (cfg.trainer.detect_anomaly, cfg.trainer.deterministic, cfg.loader.num_workers) == (True, True, 0)


def test_a_debug_preset_applies_on_top_of_an_experiment(compose_config):
    cfg = compose_config("experiment=fashion_resnet_long", "debug=fast")
    assert (cfg.model._target_, cfg.trainer.epochs, cfg.trainer.limit_batches) == ("minitrain.models.ResNet", 1, 2)
    assert cfg.callbacks.checkpoint is None


def test_early_stopping_from_the_command_line_ends_a_completed_run_with_its_pictures(runs, fakes):
    run_dir, _ = completed(runs["early"])
    summary = summary_of(run_dir)
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert [r["valid_accuracy"] for r in rows] == ["1.0", "1.0", "1.0"]  # best at epoch 1, then 2 without a better one
    assert (summary["status"], summary["stopped_early"], summary["stopped_epoch"]) == ("completed", True, 3)
    assert fakes.is_png(run_dir / "predictions.png")  # drawn although the fit was cut short
