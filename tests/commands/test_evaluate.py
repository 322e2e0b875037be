"""`minitrain eval run=DIR`: the run's numbers measured again from a checkpoint, eval.json and its figures."""

from __future__ import annotations

import json

import pytest


def history(run_dir, fakes) -> dict[int, dict[str, str]]:
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    return {int(row["epoch"]): row for row in rows}


@pytest.fixture(scope="module")
def evals(trained_runs, run_cli_many, tmp_path_factory, fakes, fake_data):
    """eval on the classifier's best and last checkpoints, on the training split, on another copy of the data
    (parquet, naming the classes as the run's IDX copy did), and on the autoencoder:
    {name: (out folder, completed process)}."""
    base = tmp_path_factory.mktemp("eval")
    other_copy = fakes.write_parquet(base / "fashion_parquet", fake_data, names=fakes.fashion_names)
    clf, ae = trained_runs["classifier"], trained_runs["autoencoder"]
    jobs = {
        "best": [f"run={clf}", f"out={base / 'best'}"],
        "last": [f"run={clf}", "checkpoint=last", f"out={base / 'last'}"],
        "train": [f"run={clf}", "split=train", f"out={base / 'train'}"],
        "other_copy": [f"run={clf}", f"dataset.path={other_copy}", f"out={base / 'other_copy'}"],
        "autoencoder": [f"run={ae}"],
    }
    done = run_cli_many({name: (base / f"cwd_{name}", ["eval", *args], {}) for name, args in jobs.items()})
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    return {name: (base / name if name != "autoencoder" else ae / "eval", proc) for name, proc in done.items()}


@pytest.mark.parametrize("which", ["best", "last"])
def test_eval_repeats_exactly_the_accuracy_the_run_recorded_for_the_checkpoints_epoch(evals, trained_runs, fakes, which):
    out, proc = evals[which]
    report = json.loads((out / "eval.json").read_text())
    summary = json.loads((trained_runs["classifier"] / "summary.json").read_text())
    epoch = summary["best_epoch"] if which == "best" else summary["epochs_completed"]
    assert report["epoch"] == epoch
    assert report["valid_accuracy"] == float(history(trained_runs["classifier"], fakes)[epoch]["valid_accuracy"])
    assert report["valid_loss"] == pytest.approx(float(history(trained_runs["classifier"], fakes)[epoch]["valid_loss"]), rel=1e-5)
    if which == "best":
        assert report["valid_accuracy"] == summary["best"]["value"]
    assert str(out) in proc.stdout  # the report folder is printed at the end


def test_eval_json_holds_per_class_accuracy_and_a_confusion_matrix_that_agree(evals, fakes):
    report = json.loads((evals["best"][0] / "eval.json").read_text())
    matrix = report["confusion_matrix"]["counts"]
    assert report["confusion_matrix"]["classes"] == fakes.fashion_names
    assert sum(map(sum, matrix)) == report["images"] == 100  # the fake data's test split
    assert sum(matrix[k][k] for k in range(10)) / 100 == report["valid_accuracy"]
    for k, name in enumerate(fakes.fashion_names):
        assert report["per_class_accuracy"][name] == pytest.approx(matrix[k][k] / sum(matrix[k]))


def test_eval_draws_the_confusion_matrix_and_the_top_losses_it_lists(evals, fakes):
    out, proc = evals["best"]
    report = json.loads((out / "eval.json").read_text())
    assert fakes.is_png(out / "confusion_matrix.png") and fakes.is_png(out / "top_losses.png")
    top = report["top_losses"]
    assert 0 < len(top) <= 16 and all(t["prediction"] != t["true"] for t in top)
    assert [t["loss"] for t in top] == sorted((t["loss"] for t in top), reverse=True)
    assert "Per class: T-shirt/top" in proc.stdout


def test_eval_on_the_training_split_names_its_numbers_after_it(evals):
    report = json.loads((evals["train"][0] / "eval.json").read_text())
    assert report["split"] == "train" and report["images"] == 300
    assert 0 <= report["train_accuracy"] <= 1 and "valid_accuracy" not in report and "recorded" not in report


def test_eval_on_another_copy_of_the_same_data_gives_the_same_accuracy(evals):
    same = json.loads((evals["best"][0] / "eval.json").read_text())
    other = json.loads((evals["other_copy"][0] / "eval.json").read_text())
    assert "parquet" in other["data_source"]
    assert other["valid_accuracy"] == same["valid_accuracy"]


def test_eval_of_an_autoencoder_reports_mse_and_psnr_per_image(evals, trained_runs, fakes):
    out, _ = evals["autoencoder"]
    report = json.loads((out / "eval.json").read_text())
    recorded = history(trained_runs["autoencoder"], fakes)[1]
    assert report["valid_loss"] == pytest.approx(float(recorded["valid_loss"]), rel=1e-5)
    assert report["valid_psnr"] == pytest.approx(float(recorded["valid_psnr"]), rel=1e-5)
    mse = report["per_image"]["mse"]
    assert mse["min"] <= mse["median"] <= mse["max"] and mse["mean"] == pytest.approx(report["valid_loss"], rel=1e-4)
    assert fakes.is_png(out / "top_losses.png") and not (out / "confusion_matrix.png").exists()


@pytest.mark.parametrize("args, message", [
    (["run=NOT_A_RUN"], "not a minitrain run"),
    (["run=RUN", "checkpoint=epoch_3"], "checkpoint=epoch_3"),
    (["run=RUN", "split=test"], "split=test"),
    (["run=RUN", "chekpoint=last"], "chekpoint"),
    (["checkpoint=last"], "needs run=..."),
    (["run=RUN", "--fast"], "'--fast' is not a KEY=VALUE option"),
    (["run=RUN", "dataset.path=NOWHERE"], "does not exist"),
])
def test_eval_refuses_bad_input_with_one_line_and_exit_2(trained_runs, run_cli, tmp_path, args, message):
    args = [a.replace("NOT_A_RUN", str(tmp_path)).replace("RUN", str(trained_runs["classifier"]))
            .replace("NOWHERE", str(tmp_path / "nowhere")) for a in args]
    proc = run_cli(tmp_path, "eval", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_eval_help_lists_its_options_without_training(run_cli, tmp_path):
    proc = run_cli(tmp_path, "eval", "--help")
    assert proc.returncode == 0 and "minitrain eval run=DIR" in proc.stdout and "checkpoint=best" in proc.stdout
    assert not (tmp_path / "outputs").exists()


# What eval says of runs that are not plain: no checkpoints, a subset validated, a validation share held out --------


@pytest.fixture(scope="module")
def odd_runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """A debug=fast run (no checkpoints), a run validated on its first batch only, and a run on an image folder
    without a validation split: {name: run directory}."""
    import shutil

    base = tmp_path_factory.mktemp("odd-runs")
    folder = fakes.write_folder(base / "pets", fakes.make_data(n_train=100, n_test=10))
    shutil.rmtree(folder / "test")
    data = f"dataset.path={dataset_dirs['idx']}"
    jobs = {
        "fast": [*fakes.tiny, data, "debug=fast"],
        "limited": [*fakes.tiny, data, "trainer.limit_batches=1", "loader.batch_size=32"],  # 64-image valid batches
        "held_out": [*fakes.tiny, "dataset=folder", f"dataset.path={folder}"],
    }
    done = run_cli_many({name: (base / name, [*args, f"hydra.run.dir={base / name / 'run'}"], {})
                         for name, args in jobs.items()})
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    return {name: base / name / "run" for name in jobs} | {"base": base}


def test_eval_of_a_run_without_checkpoints_says_why_and_what_to_run_and_that_command_works(odd_runs, run_cli):
    cwd = odd_runs["base"] / "again"
    proc = run_cli(cwd, "eval", f"run={odd_runs['fast']}")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    said = proc.stderr.strip()
    assert "trained 1 epoch(s) but saved no checkpoint (debug=fast skips checkpoints)" in said
    assert "ended before its first epoch" not in said
    command = said.split("e.g.: ", 1)[1].split()
    assert command[0] == "minitrain" and "debug=fast" not in command and "trainer.limit_batches=2" in command
    assert run_cli(cwd, *command[1:]).returncode == 0  # the run it suggests saves a checkpoint ...
    (run_dir,) = (cwd / "outputs").glob("*/*")
    assert run_cli(cwd, "eval", f"run={run_dir}").returncode == 0  # ... that eval reads


def test_eval_takes_a_checkpoint_file_as_its_run(trained_runs, run_cli, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(trained_runs["classifier"], run_dir)
    proc = run_cli(tmp_path, "eval", f"run={run_dir / 'checkpoints' / 'last.pt'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert report["checkpoint"] == str(run_dir / "checkpoints" / "last.pt") and report["epoch"] == 2
    both = run_cli(tmp_path, "eval", f"run={run_dir / 'checkpoints' / 'last.pt'}", "checkpoint=best")
    assert both.returncode == 2 and "names a checkpoint and checkpoint=best another" in both.stderr


def test_eval_of_a_limit_batches_run_says_the_run_validated_a_subset(odd_runs, run_cli, fakes):
    proc = run_cli(odd_runs["base"], "eval", f"run={odd_runs['limited']}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = " ".join(proc.stdout.split())
    assert "trainer.limit_batches=1: the run validated on its first 1 batch(es) only, 64 of the 100 images" in said
    assert "recorded by the run (64 images)" in said
    report = json.loads((odd_runs["limited"] / "eval" / "eval.json").read_text())
    assert report["images"] == 100 and report["recorded_on"]["images"] == 64 and report["recorded_on"]["of"] == 100


def test_eval_of_each_split_writes_its_own_report(odd_runs, run_cli):
    run_dir = odd_runs["limited"]
    for split in ("valid", "train"):
        assert run_cli(odd_runs["base"], "eval", f"run={run_dir}", f"split={split}").returncode == 0
    valid = json.loads((run_dir / "eval" / "eval.json").read_text())
    train = json.loads((run_dir / "eval_train" / "eval.json").read_text())
    assert (valid["split"], valid["images"], train["split"], train["images"]) == ("valid", 100, "train", 300)


def test_a_folder_without_a_validation_split_validates_on_a_share_that_eval_holds_out_again(odd_runs, run_cli,
                                                                                              fakes):
    run_dir = odd_runs["held_out"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["validation"] == {"split": "train", "held_out_pct": 0.2, "seed": 42}
    assert "validating on 20% of the train split, held out at random with seed 42" in (run_dir / "minitrain.log").read_text()
    proc = run_cli(odd_runs["base"], "eval", f"run={run_dir}", "checkpoint=last")
    assert proc.returncode == 0, proc.stderr[-2000:]
    header = proc.stdout.splitlines()[0]
    assert "on the valid split of folder-pets: 20% of the train split" in header and "20 images" in header
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert report["valid_accuracy"] == float(rows[-1]["valid_accuracy"])  # the same 20 images, drawn again
    assert report["validation"] == summary["validation"] and report["dataset"] == "folder-pets"
