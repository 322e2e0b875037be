"""Every input a user can get wrong ends in a non-zero exit and one message that names the problem,
never a traceback; a checkpoint that cannot be written (disk full) keeps the previous one.

The CLI runs are subprocesses on tiny synthetic data in the test's tmp folder, with the hub off;
they never read the system copy of Fashion-MNIST or the user's caches.
"""

from __future__ import annotations

import concurrent.futures
import errno
import gzip
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import conftest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds a CLI run may take on a busy 2-core machine
pytestmark = pytest.mark.slow  # CLI runs in subprocesses, started here rather than through run_cli
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

make_images, idx_bytes = conftest.make_images, conftest.idx_bytes  # the shared test helpers


def make_splits(n_train: int = 200, n_test: int = 60, size: int = 28, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images, labels), "test": (images, labels)} of a learnable 10-class dataset."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        splits[split] = (make_images(labels, rng, size), labels)
    return splits


IDX_NAMES = {"train": "train", "test": "t10k"}


def write_idx(root: Path, splits: dict | None = None) -> Path:
    """The four gzipped IDX files: {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz."""
    root.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in (splits or make_splits()).items():
        prefix = IDX_NAMES[split]
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images), compresslevel=1))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels), compresslevel=1))
    return root


def write_parquet(root: Path, columns_of) -> Path:
    """Hub-layout parquet (<root>/data/{train,test}-00000-of-00001.parquet) of the DatasetDict `columns_of` builds."""
    import datasets

    (root / "data").mkdir(parents=True, exist_ok=True)
    dsd = datasets.DatasetDict({split: columns_of(images, labels) for split, (images, labels) in make_splits().items()})
    for split, ds in dsd.items():
        ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def run_cli(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """conftest's CLI run, with lines that never wrap."""
    return conftest.run_minitrain(tmp, *args, timeout=TIMEOUT, COLUMNS="1000")


def key_of(override: str) -> str:
    return override.split("=", 1)[0]


def with_defaults(overrides: list[str], data: Path, tmp: Path) -> list[str]:
    """A quick, otherwise valid run on `data` in `tmp`, with the row's overrides replacing the defaults they name."""
    defaults = [
        "model=mlp", "trainer.epochs=1", "loader.batch_size=32", f"dataset.path={data}",
        "dataset.system_path=/nonexistent", "~callbacks.images", "~callbacks.loss_plot", f"hydra.run.dir={tmp / 'run'}",
    ]
    given = {key_of(o) for o in overrides}
    if "resume" in given:
        return overrides  # `minitrain resume=DIR` as a user types it: the run's saved overrides say the rest
    return [*(d for d in defaults if key_of(d) not in given), *overrides]


# The table: each row is overrides (or a setup(tmp, good_data) returning them) and what the message must say --


def in_folder(setup):
    """A setup that builds a dataset folder in tmp/data, turned into a `dataset.path=` override."""

    def overrides(tmp: Path, good: Path) -> list[str]:
        folder = tmp / "data"
        setup(folder)
        return [f"dataset.path={folder}"]

    overrides.__name__ = setup.__name__
    return overrides


@in_folder
def empty_folder(folder: Path) -> None:
    folder.mkdir(parents=True)


@in_folder
def a_file_not_a_folder(folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_bytes(b"not a folder")


@in_folder
def unreadable_folder(folder: Path) -> None:
    write_idx(folder)
    folder.chmod(0)


@in_folder
def truncated_gz(folder: Path) -> None:
    write_idx(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])


@in_folder
def idx_wrong_magic(folder: Path) -> None:
    write_idx(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(b"\x12\x34" + raw[2:]))


@in_folder
def idx_wrong_size(folder: Path) -> None:
    write_idx(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:-28 * 28]))  # one image short of what the header promises


@in_folder
def parquet_without_an_image_column(folder: Path) -> None:
    import datasets

    features = datasets.Features({"pixels": datasets.Sequence(datasets.Value("uint8")),
                                  "label": datasets.ClassLabel(names=[str(k) for k in range(10)])})
    write_parquet(folder, lambda images, labels: datasets.Dataset.from_dict(
        {"pixels": images.reshape(len(images), -1).tolist(), "label": labels.tolist()}, features=features))


@in_folder
def labels_out_of_range(folder: Path) -> None:
    splits = make_splits()
    images, labels = splits["train"]
    labels = labels.copy()
    labels[7] = 10  # one past the last class
    write_idx(folder, {**splits, "train": (images, labels)})


@in_folder
def images_of_another_size(folder: Path) -> None:
    write_idx(folder, make_splits(size=32))


def resume_a_folder_that_is_not_a_run(tmp: Path, good: Path) -> list[str]:
    folder = tmp / "not-a-run"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch\n")
    return [f"resume={folder}"]


def resume_a_run_whose_checkpoint_is_corrupt(tmp: Path, good: Path) -> list[str]:
    """A run folder as minitrain leaves it (Hydra's .hydra/overrides.yaml, checkpoints/last.pt), but last.pt is garbage."""
    run = tmp / "earlier-run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    saved = ["model=mlp", "trainer.epochs=2", "loader.batch_size=32", f"dataset.path={good}",
             "dataset.system_path=/nonexistent", "~callbacks.images", "~callbacks.loss_plot"]
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in saved))
    (run / "checkpoints" / "last.pt").write_bytes(b"\x00garbage, not a torch checkpoint\xff" * 50)
    return [f"resume={run}"]


def output_folder_inside_a_file(tmp: Path, good: Path) -> list[str]:
    blocker = tmp / "a-file"
    blocker.write_text("a regular file where a folder should be")
    return [f"hydra.run.dir={blocker / 'sub'}"]


ROOT_READS_ANYTHING = "tests run as root, and chmod 000 does not stop root from reading"

BAD_INPUTS = [
    pytest.param(["model=nope"], "model/nope", id="unknown-model-option"),
    pytest.param(["trainer.foo=1"], "trainer.foo", id="unknown-key"),
    pytest.param(["trainer.epochs=abc"], "'abc'", id="wrong-type"),
    pytest.param(["trainer.epochs=0"], "trainer.epochs=0 must be at least 1", id="zero-epochs"),
    pytest.param(["loader.batch_size=0"], "loader.batch_size=0 must be at least 1", id="zero-batch-size"),
    pytest.param(["optimizer.lr=0"], "must be a positive number", id="zero-learning-rate"),
    pytest.param(["optimizer.lr=-0.1"], "optimizer.lr=-0.1 must be a positive number", id="negative-learning-rate"),
    pytest.param(["loader.num_workers=-1"], "loader.num_workers=-1 must be between 0 and", id="negative-workers"),
    pytest.param(["loader.num_workers=1000"], "loader.num_workers=1000 must be between 0 and", id="too-many-workers"),
    pytest.param(["device=cuda"], "device=auto", id="cuda-without-a-gpu"),
    pytest.param(lambda tmp, good: [f"dataset.path={tmp / 'nowhere'}"], "does not exist", id="dataset-path-missing"),
    pytest.param(empty_folder, "It is empty", id="dataset-path-empty"),
    pytest.param(a_file_not_a_folder, "is a file", id="dataset-path-is-a-file"),
    pytest.param(unreadable_folder, "permission denied", id="dataset-path-unreadable"),
    pytest.param(truncated_gz, "is not a complete gzip file", id="truncated-gz"),
    pytest.param(idx_wrong_magic, "is not an IDX file", id="idx-wrong-magic"),
    pytest.param(idx_wrong_size, "is the wrong size", id="idx-wrong-size"),
    pytest.param(parquet_without_an_image_column, "has no image column", id="parquet-without-image-column"),
    pytest.param(labels_out_of_range, "outside 0..9", id="labels-out-of-range"),
    pytest.param(images_of_another_size, "are 32x32 pixels", id="images-32x32"),
    pytest.param(resume_a_folder_that_is_not_a_run, "is not a minitrain run directory", id="resume-not-a-run"),
    pytest.param(resume_a_run_whose_checkpoint_is_corrupt, "is corrupt or unreadable", id="resume-corrupt-checkpoint"),
    pytest.param(output_folder_inside_a_file, "Cannot write the output directory", id="output-dir-unwritable"),
]
ROW_IDS = [p.id for p in BAD_INPUTS]
SKIPPED = {"dataset-path-unreadable": ROOT_READS_ANYTHING} if IS_ROOT else {}


@pytest.fixture(scope="module")
def bad_input_runs(request, tmp_path_factory):
    """Every selected row of BAD_INPUTS, run side by side (each run is mostly Python and torch starting up).

    {row id: (result, overrides)}; futures, so a test waits only for its own row.
    """
    base = tmp_path_factory.mktemp("bad-inputs")
    good = write_idx(base / "good-data")
    selected = {item.callspec.id for item in request.session.items
                if getattr(item, "originalname", "") == "test_a_bad_input_exits_non_zero_with_a_message_and_no_traceback"}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2) * 2)
    futures = {}
    for param in BAD_INPUTS:
        if param.id not in selected or param.id in SKIPPED:
            continue
        (row, _), tmp = param.values, base / param.id
        tmp.mkdir()
        overrides = with_defaults(row(tmp, good) if callable(row) else row, good, tmp)
        futures[param.id] = (pool.submit(run_cli, tmp, *overrides), overrides)
    yield futures
    pool.shutdown(wait=True)
    for path in base.rglob("*"):  # let pytest clean up the unreadable folder
        if path.is_dir():
            path.chmod(0o755)


@pytest.mark.parametrize("row, fragment", BAD_INPUTS)
def test_a_bad_input_exits_non_zero_with_a_message_and_no_traceback(bad_input_runs, request, row, fragment):
    row_id = request.node.callspec.id
    if row_id in SKIPPED:
        pytest.skip(SKIPPED[row_id])
    future, overrides = bad_input_runs[row_id]
    result = future.result()
    text = result.stdout + result.stderr
    explanation = f"minitrain {' '.join(overrides)}\nexit {result.returncode}\n{text}"
    assert result.returncode > 0, explanation
    assert fragment in " ".join(text.split()), explanation
    assert "Traceback" not in text, explanation


# A checkpoint that cannot be written ----------------------------------------------------------------


def test_a_full_disk_while_checkpointing_stops_with_a_clear_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir

    from minitrain.callbacks import checkpoint
    from minitrain.cli import config_dir
    from minitrain.errors import CheckpointWriteError
    from minitrain.reports.files import write_atomic
    from minitrain.train import train

    monkeypatch.setenv("MINITRAIN_CACHE", str(tmp_path / "cache"))
    data = write_idx(tmp_path / "data")
    run_dir = tmp_path / "run"
    with initialize_config_dir(config_dir=config_dir(), version_base=None):
        cfg = compose("config", overrides=[
            "model=mlp", "trainer.epochs=3", "loader.batch_size=32", f"dataset.path={data}",
            "dataset.system_path=/nonexistent", "~callbacks.images", "~callbacks.loss_plot", "~callbacks.progress",
            "callbacks.summary.model=mlp",  # in place of ${hydra:runtime.choices.model}, which needs a Hydra run
        ])

    saves = []  # every checkpoint file written: last.pt each epoch, best.pt when the epoch is the best so far

    def disk_fills_on_the_second_save(path, write, mode="w"):
        saves.append(path.name)
        if saves.count("last.pt") < 2:
            return write_atomic(path, write, mode)

        def write_some_then_fail(f):
            f.write(b"the first bytes of epoch 2's checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return write_atomic(path, write_some_then_fail, mode)

    monkeypatch.setattr(checkpoint, "write_atomic", disk_fills_on_the_second_save)
    with pytest.raises(CheckpointWriteError, match="disk is full") as excinfo:
        train(cfg, run_dir)
    assert "epoch 2" in str(excinfo.value)
    assert f"minitrain resume={run_dir}" in str(excinfo.value)
    assert saves == ["last.pt", "best.pt", "last.pt"], "training went on after the checkpoint failed"
    last = torch.load(run_dir / "checkpoints" / "last.pt", map_location="cpu", weights_only=False)
    assert last["epoch"] == 1
    assert len(last["history"]) == 1
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"], "a temporary file was left"
