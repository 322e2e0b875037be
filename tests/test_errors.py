"""Mistakes a user can make end in one clear message and a non-zero exit, never a traceback;
a job that fails after training began still leaves readable metrics and a summary saying why."""

from __future__ import annotations

import json
import textwrap

import pytest

FAILING_CALLBACK = textwrap.dedent('''
    from minitrain.errors import MinitrainError
    from minitrain.learner import Callback

    class RefuseSecondEpoch(Callback):
        def before_epoch(self, learn):
            if learn.epoch == 1:
                raise MinitrainError("RefuseSecondEpoch will not train a second epoch")

    class RefuseToStart(Callback):
        order = -100  # before every callback minitrain ships: their before_fit never runs
        def before_fit(self, learn):
            raise MinitrainError("RefuseToStart will not train at all")
''')


def _truncated_gz(root, fakes, fake_data):
    fakes.write_idx(root, fake_data)
    images = root / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-500])


def _wrong_magic(root, fakes, fake_data):
    fakes.write_idx(root, fake_data, gz=False)
    images = root / "train-images-idx3-ubyte"
    images.write_bytes(b"\x1f\x9d" + images.read_bytes()[2:])


def _no_image_column(root, fakes, fake_data):
    import datasets

    folder = root / "fashion_mnist"
    folder.mkdir(parents=True)
    for split in ("train", "test"):
        images, labels = fake_data.split(split)
        ds = datasets.Dataset.from_dict({"label": labels.tolist(), "brightness": images.sum(axis=(1, 2)).tolist()})
        ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))


def _label_out_of_range(root, fakes, fake_data):
    labels = fake_data.train_labels.copy()
    labels[3] = 12
    fakes.write_idx(root, fakes.FakeData(fake_data.train_images, labels, fake_data.test_images, fake_data.test_labels))


def _unrelated_files(root, fakes, fake_data):
    root.mkdir(parents=True)
    (root / "notes.txt").write_text("not a dataset")
    (root / "holiday.jpg").write_bytes(b"\xff\xd8\xff")


SETUPS = {
    "truncated_gz": _truncated_gz,
    "wrong_magic": _wrong_magic,
    "no_image_column": _no_image_column,
    "label_out_of_range": _label_out_of_range,
    "images_32x32": lambda root, fakes, _: fakes.write_idx(root, fakes.make_data(n_train=40, n_test=20, size=32)),
    "unrelated_files": _unrelated_files,
    "empty_dir": lambda root, fakes, _: root.mkdir(parents=True),
    "path_is_file": lambda root, fakes, _: root.write_text("a file, not a folder"),
}


@pytest.fixture(scope="module")
def failures(tmp_path_factory, dataset_dirs, fake_data, fakes, run_cli_many):
    """Every failing run of this module, started side by side: {name: (tmp dir, completed process)}."""
    base = tmp_path_factory.mktemp("errors")
    for name, setup in SETUPS.items():
        (base / name).mkdir()
        setup(base / name / "data", fakes, fake_data)
    (base / "afile").write_text("a regular file where a folder should be")
    (base / "plugins").mkdir()
    (base / "plugins" / "failing_callbacks.py").write_text(FAILING_CALLBACK)
    good = f"dataset.path={dataset_dirs['idx']}"

    args = {name: [f"dataset.path={base / name / 'data'}"] for name in SETUPS}
    args.update(
        missing_path=[f"dataset.path={base / 'no' / 'such' / 'folder'}"],
        none_reachable=["dataset.system_path=/nonexistent/fashion-mnist"],
        unknown_option=["model=nope", good],
        unknown_key=["model.foo=1", good],
        wrong_type=["trainer.epochs=abc", good],
        cuda=["device=cuda", good],
        cannot_train=["trainer.epochs=0", "loader.batch_size=0", "optimizer.lr=-1", good],
        unwritable_run_dir=[good, f"hydra.run.dir={base / 'afile' / 'run'}"],
        unwritable_sweep_dir=["-m", good, f"hydra.sweep.dir={base / 'afile' / 'sweep'}"],
        callback_error=[good, "trainer.epochs=2", "+callbacks.refuse._target_=failing_callbacks.RefuseSecondEpoch"],
        early_callback_error=[good, "+callbacks.refuse._target_=failing_callbacks.RefuseToStart"],
    )
    env = {name: {"PYTHONPATH": str(base / "plugins")} for name in ("callback_error", "early_callback_error")}
    jobs = {}
    for name, extra in args.items():
        tmp = base / name
        run_dir = [] if any(a.startswith("hydra.") for a in extra) else [f"hydra.run.dir={tmp / 'run'}"]
        flags = [a for a in extra if a.startswith("-")]  # e.g. -m, which must come before the overrides
        overrides = [a for a in extra if not a.startswith("-")]
        jobs[name] = (tmp, [*flags, *fakes.tiny, *overrides, *run_dir], env.get(name, {}))
    return {name: (base / name, proc) for name, proc in run_cli_many(jobs).items()}


def failed_cleanly(failures, name, *fragments: str):
    """The run failed, printing every fragment (whatever the line breaks) and no traceback."""
    tmp, proc = failures[name]
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    said = " ".join((proc.stderr + proc.stdout).split())
    for fragment in fragments:
        assert fragment in said, f"{fragment!r} not in: {said[-2000:]}"
    return tmp, proc


def test_an_unknown_group_option_lists_the_available_options(failures):
    _, proc = failed_cleanly(failures, "unknown_option", "model/nope", "autoencoder", "cnn", "mlp")
    assert proc.returncode == 2  # bad input, as for minitrain's own checks (Hydra alone would exit 1)


def test_an_unknown_key_is_named(failures):
    _, proc = failed_cleanly(failures, "unknown_key", "Could not override 'model.foo'")
    assert proc.returncode == 2


def test_a_value_of_the_wrong_type_is_named(failures):
    _, proc = failed_cleanly(failures, "wrong_type", "trainer.epochs=abc", "could not be converted to Integer")
    assert proc.returncode == 2


def test_a_dataset_path_that_does_not_exist_is_named(failures):
    missing = failures["missing_path"][0].parent / "no" / "such" / "folder"
    failed_cleanly(failures, "missing_path", str(missing), "does not exist")


def test_a_dataset_path_that_is_a_file_says_a_folder_is_needed(failures):
    failed_cleanly(failures, "path_is_file", "is a file", "folder")


def test_an_empty_dataset_folder_says_it_is_empty(failures):
    failed_cleanly(failures, "empty_dir", "is not a dataset", "It is empty")


def test_a_folder_of_unrelated_files_says_what_it_holds(failures):
    failed_cleanly(failures, "unrelated_files", "is not a dataset", "notes.txt", "holiday.jpg")


def test_a_truncated_gzip_file_is_named(failures):
    failed_cleanly(failures, "truncated_gz", "train-images-idx3-ubyte.gz", "not a complete gzip file")


def test_an_idx_file_with_a_wrong_magic_number_is_named(failures):
    failed_cleanly(failures, "wrong_magic", "train-images-idx3-ubyte", "not an IDX file")


def test_parquet_files_without_an_image_column_say_which_columns_they_have(failures):
    failed_cleanly(failures, "no_image_column", "no image column", "label", "brightness")


def test_labels_outside_the_classes_are_reported_with_their_range(failures):
    failed_cleanly(failures, "label_out_of_range", "0 to 12", "outside 0..9", "dataset.num_classes")


def test_images_of_another_size_are_reported_with_both_sizes(failures):
    failed_cleanly(failures, "images_32x32", "32x32", "dataset.image_size", "28")


def test_when_no_copy_is_reachable_the_message_names_the_three_ways_to_get_one(failures):
    failed_cleanly(failures, "none_reachable", "dataset.path", "/nonexistent/fashion-mnist",
                   "zalando-datasets/fashion_mnist")


def test_asking_for_a_missing_gpu_suggests_device_auto(failures):
    failed_cleanly(failures, "cuda", "device=cuda", "device=auto")


def test_zero_epochs_a_zero_batch_size_and_a_negative_learning_rate_are_each_named(failures):
    tmp, _ = failed_cleanly(failures, "cannot_train", "trainer.epochs=0", "loader.batch_size=0", "optimizer.lr=-1")
    assert not (tmp / "run" / "metrics.csv").exists()


def test_an_unwritable_run_directory_is_named_before_any_work(failures):
    tmp, _ = failed_cleanly(failures, "unwritable_run_dir", "Cannot write the output directory", "hydra.run.dir")
    assert (tmp.parent / "afile").is_file()
    assert not list(tmp.parent.glob("unwritable_run_dir/minitrain-cache/*.pt"))  # no data was loaded


def test_an_unwritable_sweep_directory_is_named_before_any_job(failures):
    failed_cleanly(failures, "unwritable_sweep_dir", "Cannot write the output directory", "hydra.sweep.dir")


def test_an_error_before_training_starts_is_reported_as_itself_and_still_leaves_a_summary(failures):
    """The cleanup of callbacks whose before_fit never ran must not replace the error with one of its own."""
    tmp, proc = failed_cleanly(failures, "early_callback_error", "RefuseToStart will not train at all")
    assert "has no attribute" not in proc.stderr + proc.stdout
    summary = json.loads((tmp / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "RefuseToStart" in summary["error"]
    assert summary["epochs_completed"] == 0


def test_a_user_error_raised_mid_run_exits_with_its_message_and_keeps_what_was_written(failures, fakes):
    tmp, _ = failed_cleanly(failures, "callback_error", "RefuseSecondEpoch will not train a second epoch")
    header, rows = fakes.read_csv(tmp / "run" / "metrics.csv")
    assert header[0] == "epoch" and [r["epoch"] for r in rows] == ["1"]
    summary = json.loads((tmp / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "RefuseSecondEpoch will not train a second epoch" in summary["error"]
    assert summary["epochs_completed"] == 1
    assert "RefuseSecondEpoch will not train a second epoch" in (tmp / "run" / "minitrain.log").read_text()


def test_a_data_error_leaves_no_cache_behind(failures):
    tmp, _ = failed_cleanly(failures, "truncated_gz")
    assert not list((tmp / "minitrain-cache").glob("*.pt"))

