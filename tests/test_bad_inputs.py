"""Every input a user can get wrong, clumsily or on purpose, ends in a non-zero exit and one message that
names the problem, never a traceback, and damages nothing already written: one table of cases, plus the
cases that need more than a command line (a planted pickle, two runs in one directory, a full disk).

The CLI runs are subprocesses on tiny synthetic data in the test's tmp folder, with the hub off; they
never read the system copy of Fashion-MNIST or the user's caches.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
QUICK = ["model=mlp", "trainer.epochs=1", "loader.batch_size=32", "dataset.system_path=/nonexistent",
         "~callbacks.images", "~callbacks.loss_plot"]

FAILING_CALLBACKS = textwrap.dedent('''
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


class PlantedPayload:
    """Unpickling this runs a shell command: what a hostile checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@dataclass
class Inputs:
    """What the rows build on: a good dataset, a finished 2-epoch run, the helpers, and this row's folder."""

    good: Path
    done_run: Path
    fakes: type
    tmp: Path = field(default=Path())

    def folder(self, name: str = "data") -> Path:
        return self.tmp / name

    def idx(self, **change) -> Path:
        """The good data as IDX files in this row's folder, with split arrays replaced by `change`."""
        data = self.fakes.make_data(n_train=200, n_test=60)
        arrays = {"train_images": data.train_images, "train_labels": data.train_labels,
                  "test_images": data.test_images, "test_labels": data.test_labels, **change}
        return self.fakes.write_idx(self.folder(), self.fakes.FakeData(**arrays))

    def copy_of_done_run(self) -> Path:
        run = self.tmp / "earlier run"  # a space in the path, as users' folders have
        if not run.exists():
            shutil.copytree(self.done_run, run)
        return run


@dataclass
class Case:
    """A row: the arguments (or a function of the row's Inputs building them), what the message must say,
    the exit code, whether it resumes the finished run (whose copy must then be left unchanged), and any
    further check of the row's folder."""

    args: list[str] | Callable[[Inputs], list[str]]
    says: tuple[str, ...]
    code: int = 2
    resumes: bool = False
    then: Callable[[Path], None] | None = None


def rewrite_gz(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes()))))


def truncated_gz(i: Inputs) -> list[str]:
    folder = i.idx()
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    return [f"dataset.path={folder}"]


def idx_edit(change: Callable[[bytes], bytes], file: str = "train-images-idx3-ubyte.gz"):
    def args(i: Inputs) -> list[str]:
        folder = i.idx()
        rewrite_gz(folder / file, change)
        return [f"dataset.path={folder}"]

    return args


def parquet_with(columns: Callable[[np.ndarray, np.ndarray], dict], features: Callable[[], object] | None = None):
    """Hub-layout parquet files whose columns `columns(images, labels)` builds (with `features()` if given)."""

    def args(i: Inputs) -> list[str]:
        import datasets

        folder = i.folder() / "data"
        folder.mkdir(parents=True)
        data = i.fakes.make_data(n_train=40, n_test=20)
        for split in ("train", "test"):
            images, labels = data.split(split)
            ds = datasets.Dataset.from_dict(columns(images, labels), features=features() if features else None)
            ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
        return [f"dataset.path={i.folder()}"]

    return args


def pngs(images: np.ndarray, fakes) -> list[dict]:
    return [{"bytes": fakes.png_bytes(im), "path": None} for im in images]


def image_features(label_feature: Callable[[], object]):
    def features():
        import datasets

        return datasets.Features({"image": datasets.Image(), "label": label_feature()})

    return features


def planted_checkpoint(i: Inputs) -> list[str]:
    run = i.copy_of_done_run()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    torch.save({**state, "history": PlantedPayload(i.tmp / "PWNED")}, run / "checkpoints" / "last.pt")
    return [f"resume={run}", "trainer.epochs=3"]


def corrupt_checkpoint(i: Inputs) -> list[str]:
    run = i.copy_of_done_run()
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00garbage, not a torch checkpoint\xff" * 50)
    return [f"resume={run}", "trainer.epochs=3"]


def resume(*extra: str):
    def args(i: Inputs) -> list[str]:
        return [f"resume={i.copy_of_done_run()}", *extra]

    return args


def nothing_written(tmp: Path) -> None:
    assert not (tmp / "run").exists()
    assert not list((tmp / "minitrain-cache").glob("*.pt")), "data was decoded before the config was checked"


def no_cache(tmp: Path) -> None:
    assert not list((tmp / "minitrain-cache").glob("*.pt"))


def payload_never_ran(tmp: Path) -> None:
    assert not (tmp / "PWNED").exists(), "the planted checkpoint ran its code"


def failed_mid_run_keeping_its_files(tmp: Path) -> None:
    import json

    assert [r["epoch"] for r in csv_rows(tmp / "run" / "metrics.csv")] == ["1"]
    summary = json.loads((tmp / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "RefuseSecondEpoch" in summary["error"]
    assert summary["epochs_completed"] == 1
    assert "RefuseSecondEpoch will not train a second epoch" in (tmp / "run" / "minitrain.log").read_text()


def failed_before_training_with_a_summary(tmp: Path) -> None:
    import json

    summary = json.loads((tmp / "run" / "summary.json").read_text())
    assert summary["status"] == "failed" and "RefuseToStart" in summary["error"]
    assert summary["epochs_completed"] == 0


def log_target_untouched(tmp: Path) -> None:
    assert (tmp / "elsewhere.txt").read_text() == "not minitrain's to write\n"


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def planted_log_link(i: Inputs) -> list[str]:
    run = i.tmp / "run"
    run.mkdir()
    (i.tmp / "elsewhere.txt").write_text("not minitrain's to write\n")
    (run / "minitrain.log").symlink_to(i.tmp / "elsewhere.txt")
    return []


def unreadable(i: Inputs) -> list[str]:
    folder = i.idx()
    folder.chmod(0)
    return [f"dataset.path={folder}"]


def int16_images(i: Inputs) -> list[str]:
    folder = i.idx()
    images = i.fakes.make_data(n_train=200, n_test=60).train_images.astype(">i2")
    header = bytes([0, 0, 0x0B, 3]) + b"".join(int(d).to_bytes(4, "big") for d in images.shape)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.tobytes()))
    return [f"dataset.path={folder}"]


def float_labels(i: Inputs) -> list[str]:
    folder = i.idx()
    labels = i.fakes.make_data(n_train=200, n_test=60).train_labels.astype(">f4") + 0.5
    header = bytes([0, 0, 0x0D, 1]) + len(labels).to_bytes(4, "big")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.tobytes()))
    return [f"dataset.path={folder}"]


def string_labels(i: Inputs) -> list[str]:
    return parquet_with(lambda im, lb: {"image": pngs(im, i.fakes), "label": [f"class{k}" for k in lb]},
                        image_features(lambda: __import__("datasets").Value("string")))(i)


def null_labels(i: Inputs) -> list[str]:
    return parquet_with(lambda im, lb: {"image": pngs(im, i.fakes), "label": [None, *lb[1:].tolist()]},
                        image_features(lambda: __import__("datasets").Value("int64")))(i)


def parquet_labels(first: int):
    """Hub-layout parquet files of the hub config (no class names, no dataset.num_classes: the labels say how many
    classes there are) whose first training label is `first`."""

    def args(i: Inputs) -> list[str]:
        return ["dataset=hub", *parquet_with(lambda im, lb: {"image": pngs(im, i.fakes), "label": [first, *lb[1:].tolist()]},
                                             image_features(lambda: __import__("datasets").Value("int64")))(i)]

    return args


def null_image(i: Inputs) -> list[str]:
    return parquet_with(lambda im, lb: {"image": [*pngs(im, i.fakes)[:5], None, *pngs(im, i.fakes)[6:]],
                                        "label": lb.tolist()}, image_features(lambda: __import__("datasets").Value("int64")))(i)


def fifo_among_images(i: Inputs) -> list[str]:
    root = i.fakes.write_folder(i.folder(), i.fakes.make_data(n_train=40, n_test=20))
    os.mkfifo(root / "train" / i.fakes.class_names[0] / "waits-forever.png")
    return ["dataset=folder", f"dataset.path={root}"]


def crop_past_folder_images(i: Inputs) -> list[str]:
    root = i.fakes.write_folder(i.folder(), i.fakes.make_data(n_train=40, n_test=20))
    return ["dataset=folder", f"dataset.path={root}", "augment=flip_crop", "augment.crop_padding=40"]


def no_image_column(i: Inputs) -> list[str]:
    return parquet_with(lambda im, lb: {"label": lb.tolist(), "brightness": im.sum(axis=(1, 2)).tolist()})(i)


def unrelated_files(i: Inputs) -> list[str]:
    folder = i.folder()
    folder.mkdir()
    (folder / "notes.txt").write_text("not a dataset")
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8\xff")
    return [f"dataset.path={folder}"]


def folder_that_is_not_a_run(i: Inputs) -> list[str]:
    folder = i.folder("not-a-run")
    folder.mkdir()
    (folder / "metrics.csv").write_text("epoch\n")
    return [f"resume={folder}"]


def parquet_of_another_tool(i: Inputs) -> list[str]:
    import pandas as pd

    folder = i.folder()
    folder.mkdir()
    pd.DataFrame({"text": ["a", "b"], "score": [1.0, 2.0]}).to_parquet(folder / "train-00000-of-00001.parquet")
    pd.DataFrame({"user": ["x"], "clicks": [4]}).to_parquet(folder / "test-00000-of-00001.parquet")
    return [f"dataset.path={folder}"]


def a_file(i: Inputs) -> Path:
    blocker = i.tmp / "a-file"
    blocker.write_text("a regular file where a folder should be")
    return blocker


def out_of_range(i: Inputs) -> list[str]:
    labels = i.fakes.make_data(n_train=200, n_test=60).train_labels.copy()
    labels[3] = 12
    return [f"dataset.path={i.idx(train_labels=labels)}"]


NON_UTF8 = os.fsdecode(b"/tmp/caf\xe9")  # Latin-1 bytes in a path, as argv delivers them to Python

BAD_INPUTS: dict[str, Case] = {
    # What does not compose (exit 2, as for every bad input; Hydra alone would exit 1): said before Hydra runs
    "unknown-model-option": Case(["model=nope"], ("model/nope", "autoencoder", "cnn", "mlp")),
    "unknown-key": Case(["model.foo=1"], ("model.foo is not a setting of model", "its keys: task, _target_")),
    "wrong-type": Case(["trainer.epochs=abc"], ("trainer.epochs=abc", "could not be converted to Integer")),
    "multirun-job-that-does-not-compose": Case(["-m", "model=mlp,nope"], ("model/nope",)),
    # Keys that +key=value adds past the schema, or that the built class does not take
    "typo-added-with-plus": Case(["+trainer.epoch=3"], ("trainer.epoch is not a setting", "did you mean trainer.epochs?")),
    "optimizer-argument-it-does-not-take": Case(["+optimizer.foo=1"], ("optimizer.foo is not an argument of AdamW",)),
    "not-a-callback": Case(["+callbacks.x._target_=builtins.dict"], ("callbacks.x built a dict, which answers no Learner event",)),
    # Values of the right type that cannot train
    "cannot-train": Case(["trainer.epochs=0", "loader.batch_size=0", "optimizer.lr=-1"],
                         ("trainer.epochs=0 must be at least 1", "loader.batch_size=0 must be at least 1",
                          "optimizer.lr=-1"), then=nothing_written),
    "zero-learning-rate": Case(["optimizer.lr=0"], ("must be a positive number",)),
    "infinite-learning-rate": Case(["optimizer.lr=inf"], ("optimizer.lr=inf must be a positive number",)),
    "negative-workers": Case(["loader.num_workers=-1"], ("loader.num_workers=-1 must be between 0 and",)),
    "too-many-workers": Case(["loader.num_workers=1000"], ("loader.num_workers=1000 must be between 0 and",)),
    "seed-over-64-bits": Case(["seed=18446744073709551616"], ("seed=18446744073709551616 must be between 0 and 2**64 - 1",)),
    "no-channels": Case(["model=cnn", "model.channels=[]"], ("model.channels=[] must be a non-empty list",)),
    "a-zero-width": Case(["model=cnn", "model.channels=[0,8]"], ("model.channels=[0, 8] must be a non-empty list",)),
    "zero-hidden": Case(["model.hidden=0"], ("model.hidden=0 must be at least 1",)),
    "betas-outside-0-1": Case(["optimizer.betas=[2,2]"], ("optimizer.betas=[2.0, 2.0] must be two numbers in [0, 1)",
                                                         "optimizer.betas=[0.9,0.999]"), then=nothing_written),
    "negative-weight-decay": Case(["optimizer.weight_decay=-1"], ("optimizer.weight_decay=-1.0 must be 0 or more",
                                                                  "e.g. optimizer.weight_decay=0.01"), then=nothing_written),
    "negative-momentum": Case(["optimizer=sgd", "optimizer.momentum=-1"], ("optimizer.momentum=-1.0 must be 0 or more",
                                                                          "e.g. optimizer.momentum=0.9"), then=nothing_written),
    "negative-eps": Case(["optimizer.eps=-1"], ("optimizer.eps=-1.0 must be a positive number", "optimizer.eps=1e-08"),
                         then=nothing_written),
    "onecycle-pct-start-past-1": Case(["scheduler=onecycle", "scheduler.pct_start=2"],
                                      ("scheduler.pct_start=2.0 must be between 0 and 1", "scheduler.pct_start=0.25"),
                                      then=nothing_written),
    "onecycle-zero-div-factors": Case(["scheduler.div_factor=0", "scheduler.final_div_factor=0"],
                                      ("scheduler.div_factor=0.0 must be a positive number",
                                       "scheduler.final_div_factor=0.0 must be a positive number",
                                       "scheduler.final_div_factor=10000"), then=nothing_written),
    "cosine-warmup-past-1": Case(["scheduler=cosine", "scheduler.warmup_pct=2"],
                                 ("scheduler.warmup_pct=2.0 must be at least 0 and below 1", "scheduler.warmup_pct=0.05"),
                                 then=nothing_written),
    "crop-padding-past-the-image": Case(["augment=flip_crop", "augment.crop_padding=100"],
                                        ("augment.crop_padding=100 must be smaller than the images' side",
                                         "dataset.image_size=28", "augment.crop_padding=2"), then=nothing_written),
    "crop-padding-past-the-images-of-a-folder": Case(crop_past_folder_images, ("augment.crop_padding=40 must be smaller "
                                                                               "than the images' side (28 pixels)",
                                                                               "augment.crop_padding=2")),
    "cuda-without-a-gpu": Case(["device=cuda"], ("device=cuda", "device=auto")),
    # Data that cannot be found or read
    "dataset-path-missing": Case(lambda i: [f"dataset.path={i.tmp / 'no' / 'such' / 'folder'}"], ("no/such/folder", "does not exist")),
    "dataset-path-not-utf8": Case([f"dataset.path={NON_UTF8}"], ("not UTF-8",)),
    "dataset-path-empty": Case(lambda i: (i.folder().mkdir(), [f"dataset.path={i.folder()}"])[1], ("is not a dataset", "It is empty")),
    "dataset-path-empty-string": Case(lambda i: ["dataset.path=", f"dataset.system_path={i.good}"],
                                      ("dataset.path is empty", "dataset.path=DIR", "dataset.path=null"), then=no_cache),
    "dataset-path-is-a-file": Case(lambda i: [f"dataset.path={a_file(i)}"], ("is a file", "folder")),
    "dataset-path-unreadable": Case(unreadable, ("permission denied",)),
    "unrelated-files": Case(unrelated_files, ("is not a dataset", "notes.txt", "holiday.jpg")),
    "truncated-gz": Case(truncated_gz, ("train-images-idx3-ubyte.gz", "is not a complete gzip file"), then=no_cache),
    "idx-wrong-magic": Case(idx_edit(lambda raw: b"\x12\x34" + raw[2:]), ("is not an IDX file",)),
    "idx-wrong-size": Case(idx_edit(lambda raw: raw[: -28 * 28]), ("is the wrong size",)),
    "idx-header-overflows": Case(idx_edit(lambda raw: raw[:4] + b"\xff\xff\xff\xff" * 3 + raw[16:]), ("is the wrong size",)),
    "idx-header-cut-short": Case(idx_edit(lambda raw: bytes([0, 0, 8, 200]) + raw[4:40]), ("is cut short",)),
    "idx-int16-images": Case(int16_images, ("holds int16 values", "uint8 images")),
    "idx-float-labels": Case(float_labels, ("holds float32 values", "integer labels")),
    "labels-out-of-range": Case(out_of_range, ("0 to 12", "outside 0..9", "dataset.num_classes")),
    "images-32x32": Case(lambda i: [f"dataset.path={i.fakes.write_idx(i.folder(), i.fakes.make_data(n_train=40, n_test=20, size=32))}"],
                         ("are 32x32 pixels", "dataset.image_size")),
    "fifo-among-images": Case(fifo_among_images, ("waits-forever.png is a FIFO (named pipe), not a regular file",
                                                  "remove it"), then=no_cache),
    "parquet-without-image-column": Case(no_image_column, ("has no image column", "label", "brightness")),
    "parquet-of-another-tool": Case(parquet_of_another_tool, ("are not one dataset's", "user, clicks", "text, score",
                                                              "an image column")),
    "parquet-string-labels": Case(string_labels, ("holds string values", "integer class indices")),
    "parquet-null-labels": Case(null_labels, ("empty (null) labels",)),
    "parquet-null-image": Case(null_image, ("Row 5 of the 'train' split", "'image' column is null", "remove the row")),
    "parquet-label-of-a-billion": Case(parquet_labels(10**9), ("go up to 1000000000", "1000000001 classes",
                                                               "Fix the labels", "dataset.num_classes")),
    "labels-imply-more-classes-than-images": Case(parquet_labels(500), ("go up to 500", "501 classes", "60 images",
                                                                        "dataset.num_classes")),
    "num-classes-beyond-bound": Case(["dataset.num_classes=1000000000"], ("dataset.num_classes=1000000000",
                                                                           "100000"), then=nothing_written),
    "no-copy-reachable": Case(lambda i: ["dataset.system_path=/nonexistent/fashion-mnist", "dataset.path=null"],
                              ("dataset.path", "/nonexistent/fashion-mnist", "zalando-datasets/fashion_mnist")),
    # Output folders
    "run-dir-unwritable": Case(lambda i: [f"hydra.run.dir={a_file(i) / 'run'}"],
                               ("Cannot write the output directory", "hydra.run.dir"), then=no_cache),
    "sweep-dir-unwritable": Case(lambda i: ["-m", f"hydra.sweep.dir={a_file(i) / 'sweep'}"],
                                 ("Cannot write the output directory", "hydra.sweep.dir")),
    "fresh-run-into-a-finished-run": Case(lambda i: [f"hydra.run.dir={i.copy_of_done_run()}"],
                                          ("already holds a run", "minitrain resume="), resumes=True),
    "override-of-100-kb": Case(["+trainer.note=" + "x" * 100_000], ("characters long", "at most 4096")),
    "log-file-planted-as-a-link": Case(planted_log_link, ("minitrain.log is a symbolic link",), then=log_target_untouched),
    # A user's callback that raises minitrain's error: reported as itself, with what was written kept
    "callback-error-mid-run": Case(["trainer.epochs=2", "+callbacks.refuse._target_=failing_callbacks.RefuseSecondEpoch"],
                                   ("RefuseSecondEpoch will not train a second epoch",), then=failed_mid_run_keeping_its_files),
    "callback-error-before-training": Case(["+callbacks.refuse._target_=failing_callbacks.RefuseToStart"],
                                           ("RefuseToStart will not train at all",), then=failed_before_training_with_a_summary),
    # Resumes: each is refused before the run's folder changes (checked on every row that resumes)
    "resume-empty": Case(["resume="], ("resume= needs the run directory",)),
    "resume-not-a-run": Case(folder_that_is_not_a_run, ("is not a minitrain run directory",)),
    "resume-with-multirun": Case(lambda i: ["-m", f"resume={i.copy_of_done_run()}"], ("cannot be combined with --multirun",), resumes=True),
    "resume-corrupt-checkpoint": Case(corrupt_checkpoint, ("is corrupt or unreadable",), resumes=True),
    "resume-planted-checkpoint": Case(planted_checkpoint, ("is not a minitrain checkpoint", "asks to import and run code"),
                                      resumes=True, then=payload_never_ran),
    "resume-zero-epochs": Case(resume("trainer.epochs=0"), ("trainer.epochs=0 must be at least 1",), resumes=True),
    "resume-fewer-epochs": Case(resume("trainer.epochs=1"), ("already trained 2 epochs, more than trainer.epochs=1",), resumes=True),
    "resume-another-model": Case(resume("model=cnn", "trainer.epochs=3"), ("does not fit the configured model",), resumes=True),
    "resume-sgd-on-adamw": Case(resume("optimizer=sgd", "trainer.epochs=3"), ("trained with torch.optim.adamw.AdamW, not torch.optim.sgd.SGD",), resumes=True),
    "resume-adam-on-adamw": Case(resume("optimizer=adam", "trainer.epochs=3"), ("not torch.optim.adam.Adam",), resumes=True),
    "resume-lr-find": Case(resume("lr_find=true"), ("lr_find=true starts from fresh weights",), resumes=True),
    "resume-without-checkpoints": Case(resume("~callbacks.checkpoint", "trainer.epochs=3"), ("drop ~callbacks.checkpoint",), resumes=True),
    "resume-into-another-dir": Case(lambda i: [*resume("trainer.epochs=3")(i), f"hydra.run.dir={i.tmp / 'other'}"],
                                    ("continues the run in its own directory",), resumes=True),
    "resume-with-missing-data": Case(lambda i: resume("trainer.epochs=3", f"dataset.path={i.tmp / 'gone'}")(i), ("does not exist",), resumes=True),
}
SKIPPED = {"dataset-path-unreadable": "tests run as root, and chmod 000 does not stop root from reading"} if IS_ROOT else {}
PLUGINS = {"callback-error-mid-run", "callback-error-before-training"}  # rows that import failing_callbacks
TRAINED = PLUGINS  # rows whose run got as far as training: each keeps its run directory, with its summary


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` by its content's hash (the lock file, rewritten by each process that holds it, aside)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".minitrain.lock"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fakes, run_cli) -> Inputs:
    base = tmp_path_factory.mktemp("bad-inputs")
    good = fakes.write_idx(base / "good-data", fakes.make_data(n_train=200, n_test=60))
    done = base / "done-run"
    finished = run_cli(base, *QUICK, f"dataset.path={good}", "trainer.epochs=2", f"hydra.run.dir={done}")
    assert finished.returncode == 0, finished.stderr[-3000:]
    return Inputs(good=good, done_run=done, fakes=fakes)


@pytest.fixture(scope="module")
def bad_input_runs(request, inputs, tmp_path_factory, run_cli_many):
    """Every selected row of BAD_INPUTS, run side by side: {row id: (tmp, overrides, result, snapshot before)}."""
    base = tmp_path_factory.mktemp("rows")
    plugins = base / "plugins"
    plugins.mkdir()
    (plugins / "failing_callbacks.py").write_text(FAILING_CALLBACKS)
    selected = {item.callspec.id for item in request.session.items
                if getattr(item, "originalname", "") == "test_a_bad_input_exits_non_zero_with_one_clear_line"}
    jobs, rows = {}, {}
    for row_id, case in BAD_INPUTS.items():
        if row_id not in selected or row_id in SKIPPED:
            continue
        tmp = base / row_id
        tmp.mkdir()
        row = Inputs(inputs.good, inputs.done_run, inputs.fakes, tmp)
        given = case.args(row) if callable(case.args) else list(case.args)
        if case.resumes or any(a.startswith("resume=") for a in given):
            args = given  # `minitrain resume=DIR ...` as a user types it: the run's saved overrides say the rest
        else:
            keys = {a.split("=", 1)[0].lstrip("+~") for a in given}
            defaults = [*QUICK, f"dataset.path={inputs.good}", f"hydra.run.dir={tmp / 'run'}"]
            args = [*(a for a in given if a.startswith("-")),
                    *(d for d in defaults if d.split("=", 1)[0].lstrip("~") not in keys),
                    *(a for a in given if not a.startswith("-"))]
        before = snapshot(tmp / "earlier run") if case.resumes else None
        env = {"PYTHONPATH": str(plugins)} if row_id in PLUGINS else {}
        jobs[row_id] = (tmp, args, env)
        rows[row_id] = (tmp, args, before, (tmp / "run").exists())
    results = run_cli_many(jobs)
    yield {row_id: (*rows[row_id], results[row_id]) for row_id in rows}
    for path in base.rglob("*"):  # let pytest clean up the unreadable folder
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


@pytest.mark.parametrize("row_id", list(BAD_INPUTS))
def test_a_bad_input_exits_non_zero_with_one_clear_line(bad_input_runs, row_id):
    if row_id in SKIPPED:
        pytest.skip(SKIPPED[row_id])
    case = BAD_INPUTS[row_id]
    tmp, args, before, had_run_dir, result = bad_input_runs[row_id]
    text = result.stdout + result.stderr
    explanation = f"minitrain {' '.join(args)}\nexit {result.returncode}\n{text[-4000:]}"
    assert result.returncode == case.code, explanation
    assert "Traceback" not in text and "To append to your config" not in text and "CastError" not in text, explanation
    assert [line for line in result.stderr.splitlines() if line.startswith("Error: ")], explanation
    said = " ".join(text.split())
    for fragment in case.says:
        assert fragment in said, f"{fragment!r} missing\n{explanation}"
    if case.resumes:
        assert snapshot(tmp / "earlier run") == before, "a rejected resume changed the run it was to continue"
    if not had_run_dir and row_id not in TRAINED:
        assert not (tmp / "run").exists(), f"a run refused before training left its run directory\n{explanation}"
    if case.then:
        case.then(tmp)


def test_resuming_a_completed_run_says_so_and_changes_nothing(inputs, tmp_path, run_cli):
    run = tmp_path / "done"
    shutil.copytree(inputs.done_run, run)
    before = snapshot(run)
    result = run_cli(tmp_path, f"resume={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    said = " ".join((result.stdout + result.stderr).split())
    assert "already completed its 2 epoch(s)" in said and "trainer.epochs=7" in said
    assert snapshot(run) == before


# Two runs, one directory ---------------------------------------------------------------------------


def test_a_second_run_into_a_live_runs_directory_stops_at_once_naming_the_first(inputs, tmp_path, fakes):
    from conftest import cli_env

    slow = fakes.write_idx(tmp_path / "slow-data", fakes.make_data(n_train=3000, n_test=100))
    run_dir = tmp_path / "shared"
    args = [*QUICK, f"dataset.path={slow}", "loader.batch_size=8", "trainer.epochs=20", f"hydra.run.dir={run_dir}"]
    first = subprocess.Popen([sys.executable, "-m", "minitrain", *args], cwd=tmp_path, env=cli_env(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / ".hydra" / "overrides.yaml").is_file():  # the first run holds the lock by now
            assert first.poll() is None and time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.05)
        before = snapshot(run_dir / ".hydra")
        second = subprocess.run([sys.executable, "-m", "minitrain", *args, "seed=7"], cwd=tmp_path,
                                env=cli_env(tmp_path), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"is in use by a live minitrain run (process {first.pid})" in " ".join(second.stderr.split())
        assert "Traceback" not in second.stderr
        assert snapshot(run_dir / ".hydra") == before, "the second run rewrote the first one's config"
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130


def test_two_default_runs_started_in_the_same_second_get_their_own_directories(inputs, tmp_path, run_cli_many):
    """Hydra's default `outputs/DATE/TIME` would be the same folder for both: the second gets a suffix."""
    args = [*QUICK, f"dataset.path={inputs.good}"]
    results = run_cli_many({name: (tmp_path, args, {}) for name in ("a", "b", "c")})
    assert all(r.returncode == 0 for r in results.values()), [r.stderr[-2000:] for r in results.values()]
    summaries = sorted(tmp_path.glob("outputs/*/*/summary.json"))
    assert len(summaries) == 3, summaries
    for summary in summaries:
        assert len(csv_rows(summary.parent / "metrics.csv")) == 1


# A full disk ------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 300 kB tmpfs, where mounting is permitted (root on Linux); None elsewhere."""
    mount_point = tmp_path / "tiny-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount_point)],
                             capture_output=True).returncode == 0 if shutil.which("mount") and IS_ROOT else False
    yield mount_point if mounted else None
    if mounted:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_ends_with_one_line_and_leaves_no_temporary_file(inputs, tiny_disk, tmp_path, run_cli, monkeypatch):
    """On a real small disk where it can be mounted: the first checkpoint (about 0.5 MB) does not fit.
    Elsewhere, torch.save fails the way it does on ENOSPC (a RuntimeError, not an OSError)."""
    if tiny_disk is not None:
        run_dir = tiny_disk / "run"
        result = run_cli(tmp_path, *QUICK, f"dataset.path={inputs.good}", f"hydra.run.dir={run_dir}")
        text = result.stdout + result.stderr
        assert result.returncode == 1, text[-3000:]
        assert "Traceback" not in text
        assert "Could not write the checkpoint of epoch 1" in " ".join(text.split())
        assert not [p for p in run_dir.rglob("*.tmp")], "a temporary file was left on the full disk"
        assert (run_dir / "metrics.csv").is_file()
        return
    from minitrain.callbacks import checkpoint
    from minitrain.errors import CheckpointWriteError

    def torch_save_on_a_full_disk(obj, f):
        f.write(b"the first bytes")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0: file write failed")

    monkeypatch.setattr(checkpoint.torch, "save", torch_save_on_a_full_disk)
    with pytest.raises(CheckpointWriteError, match="disk is full"):
        train_in_process(inputs, tmp_path / "run", epochs=1)
    assert not list((tmp_path / "run").rglob("*.tmp"))


def train_in_process(inputs: Inputs, run_dir: Path, epochs: int):
    from hydra import compose, initialize_config_dir

    from minitrain.cli import config_dir
    from minitrain.train import train

    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = compose("config", overrides=[*QUICK, f"dataset.path={inputs.good}", f"trainer.epochs={epochs}",
                                           "~callbacks.progress", "callbacks.summary.model=mlp"])
    return train(cfg, run_dir)


def test_a_full_disk_while_checkpointing_stops_with_a_clear_error_and_keeps_the_previous_checkpoint(inputs, tmp_path, monkeypatch):
    from minitrain import checkpoint as checkpoint_format
    from minitrain.atomic import write_atomic
    from minitrain.callbacks import checkpoint
    from minitrain.errors import CheckpointWriteError

    monkeypatch.setenv("MINITRAIN_CACHE", str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    saves = []  # every checkpoint file written: last.pt each epoch, best.pt when the epoch is the best so far

    def disk_fills_on_the_second_save(path, write, mode="w"):
        saves.append(path.name)
        if saves.count("last.pt") < 2:
            return write_atomic(path, write, mode)

        def write_some_then_fail(f):
            f.write(b"the first bytes of epoch 2's checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return write_atomic(path, write_some_then_fail, mode)

    monkeypatch.setattr(checkpoint, "write_atomic", disk_fills_on_the_second_save)  # best.pt
    monkeypatch.setattr(checkpoint_format, "write_atomic", disk_fills_on_the_second_save)  # last.pt
    with pytest.raises(CheckpointWriteError, match="disk is full") as excinfo:
        train_in_process(inputs, run_dir, epochs=3)
    assert "epoch 2" in str(excinfo.value)
    assert f"minitrain resume={run_dir}" in str(excinfo.value)
    assert saves == ["last.pt", "best.pt", "last.pt"], "training went on after the checkpoint failed"
    last = torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert last["epoch"] == 1
    assert len(last["history"]) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"], "a temporary file was left"


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_run_there(tmp_path):
    from minitrain.atomic import remove_stale_temp_files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.pt.{dead.pid}.abc123.tmp"
    live = tmp_path / f".last.pt.{os.getpid()}.def456.tmp"
    for f in (stale, live):
        f.write_bytes(b"half a checkpoint")
    remove_stale_temp_files(tmp_path)
    assert not stale.exists(), "a dead writer's temporary file was kept"
    assert live.exists(), "a live writer's temporary file was removed"


# The data cache ---------------------------------------------------------------------------------------


def test_the_cache_notices_a_dataset_edited_in_place_with_its_modification_time_restored(inputs, tmp_path):
    from minitrain.data.sources import IdxSource

    folder = shutil.copytree(inputs.good, tmp_path / "data")
    source = IdxSource(folder)
    before = source.fingerprint()
    labels = folder / "train-labels-idx1-ubyte.gz"
    stat = labels.stat()
    raw = bytearray(labels.read_bytes())
    with labels.open("r+b") as f:  # the same size, the same inode, the same mtime: only the content differs
        f.seek(len(raw) - 1)
        f.write(bytes([raw[-1] ^ 1]))
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert labels.stat().st_mtime_ns == stat.st_mtime_ns
    assert source.fingerprint() != before


def test_a_dataset_name_cannot_put_the_cache_file_outside_the_cache_dir(inputs, tmp_path, compose_config, monkeypatch):
    from minitrain.data import load_image_data

    monkeypatch.setenv("MINITRAIN_CACHE", str(tmp_path / "cache"))
    cfg = compose_config(f"dataset.path={inputs.good}", "dataset.name=../../escaped")
    load_image_data(cfg.dataset)
    written = [p for p in tmp_path.rglob("*.pt")]
    assert written and all(p.parent == tmp_path / "cache" for p in written), written
