"""The `minitrain` command end to end, in subprocesses: what a run writes into its directory, for
every local data format, for an autoencoder, with worker processes, and with callbacks removed or added."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml
from conftest import completed

FORMATS = ["idx", "parquet", "save_to_disk"]
SUMMARY_KEYS = {"status", "dataset", "model", "device", "parameters", "best_epoch", "wall_seconds"}

MARKER_CALLBACK = textwrap.dedent('''
    from minitrain.learner import Callback

    class Marker(Callback):
        def __init__(self, filename):
            self.filename = filename

        def after_fit(self, learn):
            (learn.run_dir / self.filename).write_text(f"epochs={len(learn.history)}")
''')


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """Every training run of this module, started side by side: {name: (run_dir, completed process)}."""
    base = tmp_path_factory.mktemp("cli")
    plugins = base / "plugins"
    plugins.mkdir()
    (plugins / "my_callbacks.py").write_text(MARKER_CALLBACK)
    idx = f"dataset.path={dataset_dirs['idx']}"
    jobs = {fmt: ([f"dataset.path={dataset_dirs[fmt]}"], {}) for fmt in FORMATS}
    jobs["autoencoder"] = (["model=autoencoder", "trainer.epochs=2", idx], {})
    # The `minitrain` script, a CNN fed by two worker processes, no progress callback, one of the user's own:
    jobs["script"] = (["model=cnn", "loader.num_workers=2", "~callbacks.progress",
                       "+callbacks.mine._target_=my_callbacks.Marker", "+callbacks.mine.filename=marker.txt", idx],
                      {"script": True, "PYTHONPATH": str(plugins)})
    done = run_cli_many({
        name: (base / name, [*fakes.tiny, *args, f"hydra.run.dir={base / name / 'run'}"], kw)
        for name, (args, kw) in jobs.items()
    })
    return {name: (base / name / "run", proc) for name, proc in done.items()}


def test_help_lists_the_config_groups_and_their_options(tmp_path, run_cli):
    proc = run_cli(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    listing = proc.stdout.split("Config groups", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    groups = {line.split(":")[0].strip(): line.split(":", 1)[1].replace("*", "").split(", ") for line in listing}
    assert [o.strip() for o in groups["dataset"]] == ["cifar10", "fashion_mnist", "folder", "hub", "mnist"]
    assert [o.strip() for o in groups["model"]] == ["autoencoder", "autoencoder_lesson", "cnn", "mlp", "resnet"]
    assert [o.strip() for o in groups["optimizer"]] == ["adam", "adamw", "sgd"]
    assert [o.strip() for o in groups["augment"]] == ["flip", "flip_crop", "flip_crop_erase", "none"]
    assert "fashion_resnet_long" in [o.strip() for o in groups["experiment"]]


def test_cfg_job_prints_the_composed_config_and_trains_nothing(tmp_path, run_cli):
    proc = run_cli(tmp_path, "--cfg", "job", "model=mlp", "optimizer=adam", "trainer.epochs=3")
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    assert cfg["model"]["_target_"] == "minitrain.models.MLP"
    assert cfg["optimizer"]["_target_"] == "torch.optim.Adam"
    assert cfg["trainer"]["epochs"] == 3
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_prints_one_plain_line_per_epoch_when_stdout_is_not_a_terminal(fmt, runs):
    _, proc = completed(runs[fmt])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1 ")
    assert "valid_accuracy" in lines[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_writes_metrics_csv_with_a_header_and_one_row_per_epoch(fmt, runs, fakes):
    run_dir, _ = completed(runs[fmt])
    header, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert header == ["epoch", "train_loss", "valid_loss", "valid_accuracy", "seconds"]
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    assert all(float(rows[0][k]) >= 0 for k in header)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_writes_a_summary_of_the_completed_run(fmt, runs, fakes):
    run_dir, _ = completed(runs[fmt])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["status"] == "completed" and "error" not in summary
    assert (summary["dataset"], summary["model"], summary["device"]) == ("fashion_mnist", "mlp", "cpu")
    assert summary["parameters"] == 28 * 28 * 50 + 50 + 50 * 10 + 10
    assert summary["best_epoch"] == 1 and summary["wall_seconds"] > 0
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert summary["final"]["valid_accuracy"] == pytest.approx(float(rows[0]["valid_accuracy"]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_classifier_run_draws_samples_predictions_and_losses_as_png(fmt, runs, fakes):
    run_dir, _ = completed(runs[fmt])
    for name in ("samples.png", "predictions.png", "losses.png"):
        assert fakes.is_png(run_dir / name), name
    assert not (run_dir / "reconstructions").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_keeps_its_log_and_its_hydra_config(fmt, runs, dataset_dirs):
    run_dir, _ = completed(runs[fmt])
    log = (run_dir / "minitrain.log").read_text()
    assert "epoch 1/1" in log
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    assert f"dataset.path={dataset_dirs[fmt]}" in overrides and "model=mlp" in overrides
    assert (run_dir / ".hydra" / "config.yaml").is_file()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_decodes_into_the_cache_named_by_minitrain_cache(fmt, runs):
    run_dir, _ = completed(runs[fmt])
    assert list((run_dir.parent / "minitrain-cache").glob("fashion_mnist-train-test-*.pt"))


def test_the_mlp_beats_chance_in_one_epoch(runs, fakes):
    run_dir, _ = completed(runs["idx"])
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert float(rows[0]["valid_accuracy"]) > 0.3  # chance is 0.1


def test_every_format_trains_the_same_with_the_same_seed(runs, fakes):
    results = set()
    for fmt in FORMATS:
        run_dir, _ = completed(runs[fmt])
        _, rows = fakes.read_csv(run_dir / "metrics.csv")
        results.add((rows[0]["train_loss"], rows[0]["valid_loss"], rows[0]["valid_accuracy"]))
    assert len(results) == 1


def test_an_autoencoder_run_draws_reconstructions_after_each_epoch_and_no_predictions(runs, fakes):
    run_dir, _ = completed(runs["autoencoder"])
    assert sorted(p.name for p in (run_dir / "reconstructions").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert all(fakes.is_png(p) for p in (run_dir / "reconstructions").iterdir())
    assert not (run_dir / "predictions.png").exists()
    assert fakes.is_png(run_dir / "samples.png") and fakes.is_png(run_dir / "losses.png")


def test_an_autoencoder_run_reports_reconstruction_metrics(runs, fakes):
    run_dir, _ = completed(runs["autoencoder"])
    header, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert header == ["epoch", "train_loss", "valid_loss", "valid_psnr", "seconds"]
    assert [r["epoch"] for r in rows] == ["1", "2"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["model"], summary["task"]) == ("completed", "autoencoder", "reconstruction")
    assert summary["best"]["metric"] == "valid_loss"


def test_the_minitrain_script_trains_a_cnn_with_worker_processes(runs, fakes):
    run_dir, _ = completed(runs["script"])
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert len(rows) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["model"]) == ("completed", "cnn")


def test_a_callback_added_on_the_command_line_is_built_with_its_arguments_and_called(runs):
    run_dir, _ = completed(runs["script"])
    assert (run_dir / "marker.txt").read_text() == "epochs=1"


def test_without_the_progress_callback_a_run_prints_no_epoch_lines_and_still_writes_metrics(runs, fakes):
    run_dir, proc = completed(runs["script"])
    assert not any(line.startswith("epoch ") for line in proc.stdout.splitlines())
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert len(rows) == 1
