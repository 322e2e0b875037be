"""Shared fixtures: a small synthetic image dataset written in every local format minitrain reads,
composed configs, and a runner for the `minitrain` command that never touches the network,
the system copy of Fashion-MNIST or the user's caches."""

from __future__ import annotations

import atexit
import concurrent.futures
import gzip
import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Before `datasets` or `huggingface_hub` is imported (they read these once): no hub, no user cache.
_HF_HOME = tempfile.mkdtemp(prefix="minitrain-tests-hf-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = _HF_HOME
os.environ["HF_DATASETS_CACHE"] = os.path.join(_HF_HOME, "datasets")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["MINITRAIN_CACHE"] = os.path.join(_HF_HOME, "minitrain")  # tests that look at it set their own
REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402
import pytest  # noqa: E402

N_TRAIN, N_TEST, SIZE, N_CLASSES = 300, 100, 28, 10
CLASS_NAMES = [f"class{k}" for k in range(N_CLASSES)]  # unlike either config's names
FASHION_NAMES = [  # configs/dataset/fashion_mnist.yaml's names, which IDX copies get
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A CLI run that takes seconds: most of it is starting Python, torch and datasets, and drawing figures.
TINY = ["model=mlp", "trainer.epochs=1", "loader.batch_size=64", "callbacks.images.n_images=12"]
IDX_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class FakeData:
    """Images (N x H x W uint8) and labels (N int64) per split, as a source would decode them."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return (self.train_images, self.train_labels) if name == "train" else (self.test_images, self.test_labels)


def make_images(labels: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Dim noise plus one bright block whose position says the class: learnable in one epoch."""
    images = rng.integers(0, 60, size=(len(labels), size, size), dtype=np.uint8)
    for i, k in enumerate(labels):
        k = int(k) % N_CLASSES  # a label out of range (a bad-input test) still draws a block
        row, col = 3 + (k // 5) * (size // 2), 2 + (k % 5) * ((size - 4) // 5)
        images[i, row : row + 8, col : col + 4] = rng.integers(200, 256, size=(8, 4), dtype=np.uint8)
    return images


def make_fake_data(n_train: int = N_TRAIN, n_test: int = N_TEST, size: int = SIZE, seed: int = 0) -> FakeData:
    rng = np.random.default_rng(seed)
    train_labels = rng.permutation(np.arange(n_train) % N_CLASSES).astype(np.int64)
    test_labels = rng.permutation(np.arange(n_test) % N_CLASSES).astype(np.int64)
    train_images, test_images = make_images(train_labels, rng, size), make_images(test_labels, rng, size)
    return FakeData(train_images, train_labels, test_images, test_labels)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes: 00 00 08 <ndim>, each dimension as a big-endian int32, then the uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(root: Path, data: FakeData, gz: bool = True) -> Path:
    """The four original-style IDX files, gzipped (`.gz`, as distributed) or not."""
    root.mkdir(parents=True, exist_ok=True)
    for (split, what), name in IDX_FILES.items():
        images, labels = data.split(split)
        raw = idx_bytes(images if what == "images" else labels)
        if gz:
            (root / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / name).write_bytes(raw)
    return root


def png_bytes(image: np.ndarray, fmt: str = "PNG") -> bytes:
    """One image (H x W grey or H x W x 3 colour, uint8) encoded as PNG (or another format PIL writes)."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image, mode="L" if image.ndim == 2 else "RGB").save(out, format=fmt)
    return out.getvalue()


def dataset_dict(data: FakeData, names: list[str] = CLASS_NAMES):
    """A `datasets.DatasetDict` shaped like the hub's: PNG-encoded `image`, ClassLabel `label`."""
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    splits = {}
    for split in ("train", "test"):
        images, labels = data.split(split)
        splits[split] = datasets.Dataset.from_dict(
            {"image": [{"bytes": png_bytes(im), "path": None} for im in images], "label": labels.tolist()},
            features=features,
        )
    return datasets.DatasetDict(splits)


def write_parquet(root: Path, data: FakeData, names: list[str] = CLASS_NAMES) -> Path:
    """The hub's layout: <root>/fashion_mnist/{train,test}-00000-of-00001.parquet."""
    folder = root / "fashion_mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for split, ds in dataset_dict(data, names).items():
        ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return root


def write_saved(root: Path, data: FakeData, names: list[str] = CLASS_NAMES) -> Path:
    """A folder written by `DatasetDict.save_to_disk`."""
    dataset_dict(data, names).save_to_disk(str(root))
    return root


WRITERS = {"idx": write_idx, "parquet": write_parquet, "save_to_disk": write_saved}


def toy_fit(*callbacks, epochs: int = 1, run_dir: Path | None = None, model=None, train_sizes=(4, 4),
            valid_sizes=None, task: str | None = "classification", seed: int = 0):
    """A Learner fitted for `epochs` on random 4-feature, 3-class batches of `train_sizes` (validated on batches of
    `valid_sizes`, or on the training batches themselves): the toy every Learner test trains."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from minitrain.learner import DataLoaders, Learner
    from minitrain.tasks import TASKS

    g = torch.Generator().manual_seed(seed)
    make = lambda sizes: [(torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)) for n in sizes]  # noqa: E731
    train = make(train_sizes)
    valid = make(valid_sizes) if valid_sizes else train
    torch.manual_seed(seed)
    learn = Learner(model if model is not None else nn.Linear(4, 3), DataLoaders(train, valid), F.cross_entropy, 0.1,
                    list(callbacks), task=TASKS[task] if task else None, run_dir=run_dir)
    learn.fit(epochs)
    return learn


class Scripted:
    """A Learner callback that overwrites each finished epoch's valid_accuracy with the next value of a script."""

    order = 0  # after MetricsCallback (-10) writes the row, before anything reads it

    def __init__(self, accuracies: list[float]) -> None:
        self.accuracies = accuracies

    def after_epoch(self, learn) -> None:
        if not learn.training:
            learn.history[-1]["valid_accuracy"] = self.accuracies[learn.epoch]


def completed(run):
    """A CLI run `(run directory, completed process)`, returned as it is once it is sure to have exited 0."""
    run_dir, proc = run
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc


def summary_of(run_dir: Path) -> dict:
    """A run's summary.json."""
    import json

    return json.loads((run_dir / "summary.json").read_text())


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV file's header and rows."""
    import csv

    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def is_png(path: Path, min_bytes: int = 2000) -> bool:
    """The file is a PNG (by its magic bytes) with something drawn in it (not a few bytes of nothing)."""
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size >= min_bytes


# Colour images, other sizes and the user's own layouts (issue #12: data beyond MNIST) ----------------------------

EXTENSIONS = ["png", "jpg", "bmp", "webp"]  # what write_folder cycles through when asked for mixed formats


def make_colour_data(n_train: int = 120, n_test: int = 40, size: int = 32, seed: int = 1) -> FakeData:
    """Colour images (N x H x W x 3 uint8, PIL's layout), learnable by the block's position as make_fake_data's."""
    grey = make_fake_data(n_train, n_test, size, seed)
    tint = lambda images: np.stack([images, images // 2, 255 - images], axis=-1)  # noqa: E731
    return FakeData(tint(grey.train_images), grey.train_labels, tint(grey.test_images), grey.test_labels)


def write_folder(root: Path, data: FakeData, names: list[str] = CLASS_NAMES, ext: str = "png", grey_every: int = 0,
                 sizes: tuple[int, ...] = (), valid_dir: str = "test") -> Path:
    """ImageFolder's layout: <root>/train/<class>/<i>.<ext> and <root>/<valid_dir>/<class>/...

    `ext="mixed"` cycles through PNG, JPEG, BMP and WebP; every `grey_every`-th image is saved grey (a mixed
    grey/colour folder); `sizes` cycles the images through those sides (a folder of several sizes)."""
    from PIL import Image

    for split, folder in (("train", "train"), ("test", valid_dir)):
        images, labels = data.split(split)
        for i, (image, label) in enumerate(zip(images, labels)):
            picture = Image.fromarray(image)
            if grey_every and i % grey_every == 0:
                picture = picture.convert("L")
            if sizes:
                picture = picture.resize((sizes[i % len(sizes)],) * 2)
            suffix = EXTENSIONS[i % len(EXTENSIONS)] if ext == "mixed" else ext
            target = root / folder / names[label] / f"{i:05d}.{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            picture.save(target, quality=95) if suffix == "jpg" else picture.save(target)
    return root


def write_hub_parquet(root: Path, data: FakeData, names: list[str] = CLASS_NAMES, image_column: str = "img",
                      label_column: str = "label", splits: tuple[str, ...] = ("train", "test")) -> Path:
    """The hub's parquet layout of CIFAR-10 (uoft-cs/cifar10): <root>/plain_text/<split>-00000-of-00001.parquet
    with an Image column `img` (PNG bytes) and a ClassLabel column `label`."""
    import datasets

    features = datasets.Features({image_column: datasets.Image(), label_column: datasets.ClassLabel(names=names)})
    folder = root / "plain_text"
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        images, labels = data.split(split)
        ds = datasets.Dataset.from_dict(
            {image_column: [{"bytes": png_bytes(im), "path": None} for im in images], label_column: labels.tolist()},
            features=features,
        )
        ds.to_parquet(str(folder / f"{split}-00000-of-00001.parquet"))
    return root


class Fakes:
    """The data helpers above, for test modules (from the `fakes` fixture); the Learner and CLI helpers (toy_fit,
    completed, summary_of, cli_env) are imported from conftest."""

    FakeData = FakeData
    make_data = staticmethod(make_fake_data)
    idx_bytes = staticmethod(idx_bytes)
    png_bytes = staticmethod(png_bytes)
    write_idx = staticmethod(write_idx)
    dataset_dict = staticmethod(dataset_dict)
    class_names = CLASS_NAMES
    fashion_names = FASHION_NAMES
    tiny = TINY
    read_csv = staticmethod(read_csv)
    is_png = staticmethod(is_png)
    make_colour_data = staticmethod(make_colour_data)  # issue #12: colour, other sizes, the user's layouts
    write_folder = staticmethod(write_folder)
    write_hub_parquet = staticmethod(write_hub_parquet)
    write_parquet = staticmethod(write_parquet)


@pytest.fixture(scope="session")
def fakes() -> type[Fakes]:
    return Fakes


@pytest.fixture(scope="session")
def fake_data() -> FakeData:
    return make_fake_data()


@pytest.fixture(scope="session")
def dataset_dirs(tmp_path_factory, fake_data) -> dict[str, Path]:
    """One read-only copy of the fake data per local format: idx (gzipped), idx_raw, parquet, save_to_disk."""
    base = tmp_path_factory.mktemp("datasets")
    dirs = {fmt: write(base / fmt, fake_data) for fmt, write in WRITERS.items()}
    dirs["idx_raw"] = write_idx(base / "idx_raw", fake_data, gz=False)
    return dirs


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """minitrain's decoded-tensor cache, in this test's tmp folder (the config reads MINITRAIN_CACHE)."""
    path = tmp_path / "minitrain-cache"
    monkeypatch.setenv("MINITRAIN_CACHE", str(path))
    return path


@pytest.fixture
def drawn_figures(monkeypatch) -> list:
    """Every figure minitrain.reports.figures would have saved, in order, kept open instead of written, so that a
    test reads its ticks and labels from matplotlib's objects."""
    from minitrain.reports import figures

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path, **kw: drawn.append(fig))
    return drawn


@pytest.fixture
def compose_config():
    """compose_config(*overrides, return_hydra_config=False) -> the config minitrain would run with."""
    from hydra import compose, initialize_config_dir

    from minitrain.cli import config_dir  # registers the schemas

    def compose_config(*overrides: str, return_hydra_config: bool = False):
        with initialize_config_dir(config_dir=config_dir(), version_base=None):
            return compose("config", overrides=list(overrides), return_hydra_config=return_hydra_config)

    return compose_config


# Markers ---------------------------------------------------------------------------------------

CLI_FIXTURES = {"run_cli", "run_cli_many"}  # each starts `minitrain` in a subprocess: seconds per run


def pytest_collection_modifyitems(config, items) -> None:
    """A test that runs the CLI is `slow` (left out of `pytest -m "not slow"`); a `gpu` test is skipped without CUDA."""
    import torch

    no_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if CLI_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(no_gpu)


# The CLI, in a subprocess ----------------------------------------------------------------------


def cli_env(tmp: Path, checkout: bool = True, **extra: str | None) -> dict[str, str]:
    """The environment of a CLI run: caches in `tmp`, the hub off, no colour codes, no full tracebacks, one torch
    thread; `extra` adds variables, or removes them where its value is None."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    # This checkout's code (unless `checkout` is false), whether or not it is installed; a test's own modules
    # (extra PYTHONPATH) first.
    paths = [extra.pop("PYTHONPATH", None), str(REPO) if checkout else None, os.environ.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(
        MINITRAIN_CACHE=str(tmp / "minitrain-cache"),
        HF_HOME=str(tmp / "hf-home"),
        HF_DATASETS_CACHE=str(tmp / "hf-home" / "datasets"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        NO_COLOR="1",
        COLUMNS="200",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run_minitrain(tmp: Path, *args: str, script: bool = False, program: str | None = None, timeout: float = 120,
                  **env: str):
    """The CompletedProcess of `python -m minitrain args` (or the `minitrain` script; or `program`, another
    installation's script, run without this checkout on PYTHONPATH) run in `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    command = [shutil.which("minitrain") or "minitrain"] if script else [sys.executable, "-m", "minitrain"]
    return subprocess.run(
        [*([program] if program else command), *args], cwd=tmp, env=cli_env(tmp, checkout=program is None, **env),
        capture_output=True, text=True, timeout=timeout,
    )


def start_minitrain(tmp: Path, *args: str, **env: str) -> subprocess.Popen:
    """`python -m minitrain args` in the background (to signal or kill); output in tmp/stdout.txt and stderr.txt."""
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / "stdout.txt", "w") as out, open(tmp / "stderr.txt", "w") as err:
        return subprocess.Popen([sys.executable, "-m", "minitrain", *args], cwd=tmp, env=cli_env(tmp, **env),
                                stdout=out, stderr=err)


def finish(proc: subprocess.Popen, tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Wait for a run started by `start_minitrain` (killing it after `timeout`); its exit code and output."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    stdout, stderr = (tmp / "stdout.txt").read_text(), (tmp / "stderr.txt").read_text()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="session")
def run_cli():
    """run_cli(tmp, *args, script=False, program=None, **env) -> CompletedProcess of `python -m minitrain args`
    (or `minitrain`, or another installation's `program`)."""
    return run_minitrain


@pytest.fixture(scope="session")
def run_cli_many(run_cli):
    """run_cli_many({name: (tmp, [args], {env or script=True})}) -> {name: CompletedProcess}, run side by side.

    CLI runs spend most of their time starting up on one core, so independent runs share the machine's cores.
    """

    def run_cli_many(jobs: dict) -> dict:
        workers = max(2, os.cpu_count() or 2)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {name: pool.submit(run_cli, tmp, *args, **kw) for name, (tmp, args, kw) in jobs.items()}
            return {name: future.result() for name, future in futures.items()}

    return run_cli_many


# Finished runs, for the commands that use one (eval, predict, export, load_run) -------------------------------

# A classifier that still errs after two epochs on the fake data (so top losses and per-class numbers say
# something), and a small autoencoder.
TRAINED = {
    "classifier": ["model=mlp", "trainer.epochs=2", "optimizer.lr=0.001"],
    "autoencoder": ["model=autoencoder", "model.channels=[4,8,4]", "trainer.epochs=1"],
}


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory, dataset_dirs, run_cli_many) -> dict[str, Path]:
    """{name: run directory} of the TRAINED runs, trained once per test session through the real CLI."""
    base = tmp_path_factory.mktemp("trained")
    done = run_cli_many({
        name: (base / name, [*TINY, *args, f"dataset.path={dataset_dirs['idx']}", f"hydra.run.dir={base / name / 'run'}"], {})
        for name, args in TRAINED.items()
    })
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    return {name: base / name / "run" for name in TRAINED}


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time: equal before and after means untouched."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


Fakes.tree_state = staticmethod(tree_state)
