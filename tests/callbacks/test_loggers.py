"""The `logger` group: runs read back with TensorBoard's and MLflow's own readers, a sweep's jobs side by side
in one experiment and one TensorBoard folder, rank 0 only, and a one-line error when an extra is missing."""

from __future__ import annotations

import json

import pytest

from minitrain.learner import Learner

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
mlflow = pytest.importorskip("mlflow")

from minitrain.callbacks import MetricsCallback  # noqa: E402
from minitrain.callbacks.loggers import MLflowLogger, TensorBoardLogger, flatten  # noqa: E402
from conftest import toy_fit

MISSING_MLFLOW = 'raise ImportError("No module named mlflow")\n'  # what Python says when it is not installed


@pytest.fixture(scope="module")
def runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """A two-job sweep logging to csv + TensorBoard + MLflow, and a run where mlflow cannot be imported."""
    base = tmp_path_factory.mktemp("loggers")
    stub = base / "no_mlflow" / "stub" / "mlflow"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(MISSING_MLFLOW)
    data = f"dataset.path={dataset_dirs['idx']}"
    jobs = {
        "sweep": (base / "sweep", ["-m", "logger=many", "optimizer.lr=0.01,0.02", *fakes.tiny, "trainer.epochs=2",
                                   data, f"hydra.sweep.dir={base / 'sweep' / 'multirun'}"], {}),
        "no_mlflow": (base / "no_mlflow", ["logger=mlflow", *fakes.tiny, data, "hydra.run.dir=run"],
                      {"PYTHONPATH": str(stub.parent)}),
    }
    done = run_cli_many(jobs)
    return {name: (base / name, proc) for name, proc in done.items()}


def accumulate(folder):
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_a_sweeps_jobs_are_tensorboard_runs_under_the_sweep_directory(runs, fakes):
    cwd, proc = runs["sweep"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    multirun = cwd / "multirun"
    assert sorted(p.parent.relative_to(multirun).as_posix() for p in multirun.rglob("events.out.tfevents.*")) == [
        "0/tensorboard", "1/tensorboard"]
    for job in ("0", "1"):
        events = accumulate(multirun / job / "tensorboard")
        _, rows = fakes.read_csv(multirun / job / "metrics.csv")
        valid = events.Scalars("epoch/valid_loss")
        assert [e.step for e in valid] == [1, 2]
        assert [e.value for e in valid] == pytest.approx([float(r["valid_loss"]) for r in rows], rel=1e-5)
        assert "epoch/valid_accuracy" in events.Tags()["scalars"]
        batches = 2 * 5  # 2 epochs of 300 images in batches of 64
        assert [e.step for e in events.Scalars("batch/train_loss")] == list(range(1, batches + 1))
        lrs = [e.value for e in events.Scalars("batch/lr")]
        assert len(lrs) == batches and max(lrs) == pytest.approx({"0": 0.01, "1": 0.02}[job], rel=0.05)  # one-cycle peak
        assert {"losses", "samples", "predictions"} <= set(events.Tags()["images"])


def test_tensorboard_gets_the_config_as_hyper_parameters(runs):
    from tensorboard.plugins.hparams import plugin_data_pb2

    cwd, _ = runs["sweep"]
    content = accumulate(cwd / "multirun" / "1" / "tensorboard").PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["optimizer.lr"].number_value == pytest.approx(0.02)
    assert start.hparams["model._target_"].string_value == "minitrain.models.MLP"


def test_a_sweeps_jobs_are_runs_of_one_mlflow_experiment_in_the_local_store(runs, fakes):
    cwd, _ = runs["sweep"]
    assert (cwd / "outputs" / "mlflow.db").is_file()  # the default store, relative to the working directory
    client = mlflow.tracking.MlflowClient(f"sqlite:///{cwd / 'outputs' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("minitrain")
    found = client.search_runs([experiment.experiment_id], order_by=["params.`optimizer.lr`"])
    assert [r.data.params["optimizer.lr"] for r in found] == ["0.01", "0.02"]
    for run, job in zip(found, ("0", "1")):
        run_dir = cwd / "multirun" / job
        assert run.info.status == "FINISHED"
        assert f"optimizer.lr={run.data.params['optimizer.lr']}" in run.info.run_name.split()  # named by its overrides
        assert run.data.tags["minitrain.run_dir"] == str(run_dir.resolve())
        assert run.data.params["trainer.epochs"] == "2" and run.data.params["model._target_"] == "minitrain.models.MLP"
        _, rows = fakes.read_csv(run_dir / "metrics.csv")
        history = client.get_metric_history(run.info.run_id, "valid_accuracy")
        assert [(m.step, m.value) for m in history] == [(int(r["epoch"]), pytest.approx(float(r["valid_accuracy"])))
                                                        for r in rows]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"summary.json", "metrics.csv", "losses.png", "samples.png", "predictions.png"} <= artifacts
        local = client.download_artifacts(run.info.run_id, "summary.json", str(run_dir.parent / f"dl{job}"))
        assert json.loads(open(local).read()) == json.loads((run_dir / "summary.json").read_text())


def test_a_missing_extra_is_one_line_naming_the_pip_command(runs):
    cwd, proc = runs["no_mlflow"]
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        'Error: logger=mlflow needs mlflow, which is not installed: pip install "minitrain[mlflow]"')
    assert "Traceback" not in proc.stderr
    assert not (cwd / "run" / "metrics.csv").exists()  # stopped before training


def fit(run_dir, *callbacks, epochs: int = 2) -> Learner:
    return toy_fit(MetricsCallback(), *callbacks, epochs=epochs, run_dir=run_dir, train_sizes=(4, 4, 4), task=None)


def test_only_the_process_with_a_run_directory_logs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default MLflow store would go
    fit(None, TensorBoardLogger(), MLflowLogger())  # a rank other than 0: run_dir is None
    assert list(tmp_path.rglob("*")) == []


def test_a_learner_outside_the_cli_logs_to_tensorboard_without_a_config(tmp_path):
    fit(tmp_path, TensorBoardLogger(subdir="tb"), epochs=3)
    events = accumulate(tmp_path / "tb")
    assert [e.step for e in events.Scalars("epoch/train_loss")] == [1, 2, 3]
    assert len(events.Scalars("batch/train_loss")) == 9
    assert "config/text_summary" not in events.Tags()["tensors"]  # no .hydra/config.yaml: no config to show
    with pytest.raises(KeyError):
        events.PluginTagToContent("hparams")


def test_flatten_turns_nested_config_into_dotted_keys():
    assert flatten({"trainer": {"epochs": 5, "grad_clip": None}, "model": {"channels": [4, 8]}, "seed": 1}) == {
        "trainer.epochs": 5, "trainer.grad_clip": "None", "model.channels": "[4, 8]", "seed": 1}


def test_a_logger_setting_its_class_does_not_take_is_refused_before_training(compose_config):
    from minitrain.checks import check_config
    from minitrain.errors import ConfigError

    with pytest.raises(ConfigError, match=r"logger\.mlflow\.experiment is not an argument of MLflowLogger"):
        check_config(compose_config("logger=mlflow", "+logger.mlflow.experiment=resnets"))
