"""Find a dataset (an explicit path, a system-wide copy, the Hugging Face hub) and decode its splits.

Every source ends as the same thing: per split, one uint8 tensor of images (N x C x H x W) and one
int64 tensor of labels, decoded once so that training never touches a PNG.
"""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from minitrain import interrupts
from minitrain.data.decode import Shape, decode_images
from minitrain.data.idx import read_idx
from minitrain.data.paths import regular_file
from minitrain.data.pixels import Stats
from minitrain.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}  # what a folder dataset's class folders may hold


@dataclass
class Split:
    """One split, decoded: images as uint8 (N x C x H x W; N x H x W is taken as one channel), labels as int64 (N)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.ndim == 3:  # grey arrays (IDX files, caches written before colour) get their channel
            self.images = self.images.unsqueeze(1)


@dataclass
class Decoded:
    """What a source yields: its splits by name, class names when the source carries them, and the training
    split's per-channel statistics (filled in once, before caching)."""

    splits: dict[str, Split]
    classes: list[str] | None
    stats: Stats | None = None


@dataclass(frozen=True)
class Columns:
    """The columns of a Hugging Face dataset to read; None: found by their feature type."""

    image: str | None = None
    label: str | None = None


class Source(ABC):
    """A place the images come from."""

    kind: str  # what it is, in words
    slug: str  # the same in one word, for names
    shape = Shape()  # what encoded images are converted to (find_source sets it from the config)
    columns = Columns()  # which columns of a Hugging Face dataset to read (find_source sets it from the config)

    def __init__(self, location: str) -> None:
        self.location = location

    def __str__(self) -> str:
        return f"{self.kind} at {self.location}"

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the source's content may have changed; keys the decoded-tensor cache."""

    @abstractmethod
    def split_names(self) -> list[str]:
        """The splits this source has."""

    @abstractmethod
    def decode_split(self, split: str, shape: Shape) -> tuple[Split, list[str] | None]:
        """One split as tensors, and its class names when the source carries them."""

    def class_names(self) -> list[str] | None:
        """The class names the source carries, read without decoding or loading anything (None: none known so)."""
        return None

    def decode(self, splits: list[str]) -> Decoded:
        """Decode the named splits; the first (training) split fixes the shape that the others are converted to."""
        out, classes, shape = {}, None, self.shape
        for split in splits:
            interrupts.check()
            out[split], names = self.decode_split(split, shape)
            shape = Shape(*out[split].images.shape[1:3])
            classes = classes or names
        return Decoded(out, classes)


def _files_fingerprint(files: list[Path]) -> str:
    """Changes when a file is replaced or edited in place, even if its modification time was set back
    (the inode changes on replace, the status-change time on any write, and neither can be set by hand)."""
    h = hashlib.sha1()
    for f in sorted(files):
        st = regular_file(f).stat()  # never a FIFO or device, which the decode would then wait on
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:16]


class IdxSource(Source):
    """The original MNIST-style files: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]."""

    slug = "idx"
    kind = "IDX files"
    PREFIX = {"train": "train", "test": "t10k"}

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def find(cls, root: Path, prefix: str, what: str) -> Path | None:
        for name in (f"{prefix}-{what}-ubyte.gz", f"{prefix}-{what}-ubyte", f"{prefix}-{what.replace('-', '.')}-ubyte"):
            if os.path.lexists(root / name) and not (root / name).is_dir():  # read_idx refuses a FIFO or device
                return root / name
        return None

    @classmethod
    def detect(cls, root: Path) -> bool:
        return cls.find(root, "train", "images-idx3") is not None

    def _files(self, split: str) -> tuple[Path, Path]:
        prefix = self.PREFIX.get(split, split)
        images, labels = self.find(self.root, prefix, "images-idx3"), self.find(self.root, prefix, "labels-idx1")
        if images is None or labels is None:
            missing = f"{prefix}-images-idx3-ubyte.gz" if images is None else f"{prefix}-labels-idx1-ubyte.gz"
            raise DataError(
                f"{self.root} has IDX files but no {missing} for the '{split}' split. "
                "A complete copy has train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz."
            )
        return images, labels

    def fingerprint(self) -> str:
        return _files_fingerprint([f for s in self.PREFIX for f in self._files(s)])

    def split_names(self) -> list[str]:
        return [s for s, prefix in self.PREFIX.items() if self.find(self.root, prefix, "images-idx3")]

    def decode_split(self, split: str, shape: Shape) -> tuple[Split, None]:
        """The arrays as stored: IDX files are raw pixels of one size, so they are never resized."""
        images_file, labels_file = self._files(split)
        images, labels = read_idx(images_file), read_idx(labels_file)
        if images.dtype != np.uint8 or labels.dtype.kind not in "iu":
            bad, dtype = (images_file, images.dtype) if images.dtype != np.uint8 else (labels_file, labels.dtype)
            raise DataError(f"{bad} holds {dtype} values; minitrain reads uint8 images and integer labels "
                            "(IDX type 0x08), as the original MNIST files are, rather than train on converted values.")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{images_file} and {labels_file} do not match: images have shape {images.shape}, "
                f"labels {labels.shape}; expected N x H x W images and N labels."
            )
        return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))), None


class FolderSource(Source):
    """The ImageFolder layout: <dir>/<split>/<class>/<image>.{png,jpg,jpeg,bmp,webp}; classes are folder names."""

    slug = "folder"
    kind = "an image folder"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "train").is_dir() and any(p.is_dir() for p in (root / "train").iterdir())

    def split_names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(c.is_dir() for c in p.iterdir()))

    def class_names(self) -> list[str]:
        """The training split's class folders, sorted: label k is the k-th name (as torchvision's ImageFolder)."""
        return sorted(p.name for p in (self.root / "train").iterdir() if p.is_dir() and not p.name.startswith("."))

    def images(self, split: str) -> list[tuple[Path, str]]:
        """(file, class name) for every image under <dir>/<split>/<class>/, in a fixed order."""
        return [(regular_file(f), c.name)
                for c in sorted(p for p in (self.root / split).iterdir() if p.is_dir() and p.name[0] != ".")
                for f in sorted(c.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES and not f.is_dir() and f.name[0] != "."]

    def fingerprint(self) -> str:
        return _files_fingerprint([f for s in self.split_names() for f, _ in self.images(s)])

    def decode_split(self, split: str, shape: Shape) -> tuple[Split, list[str]]:
        classes, files = self.class_names(), self.images(split)
        index = {name: k for k, name in enumerate(classes)}
        unknown = sorted({c for _, c in files} - set(index))
        if unknown:
            raise DataError(f"{self.root / split} has class folders that {self.root / 'train'} lacks: "
                            f"{', '.join(unknown[:5])}. Every class needs training images.")
        if not files:
            raise DataError(f"{self.root / split} holds no images: each class folder needs files ending in "
                            f"{', '.join(sorted(IMAGE_SUFFIXES))}.")
        # A fixed shuffle (as the hub stores its splits): pictures of the first images show several classes.
        files = [files[i] for i in torch.randperm(len(files), generator=torch.Generator().manual_seed(0))]
        images = decode_images([f for f, _ in files], shape, f"{self.root / split}")
        return Split(images, torch.tensor([index[c] for _, c in files], dtype=torch.int64)), classes


class HFSource(Source):
    """A Hugging Face `datasets` DatasetDict whose image column holds encoded images (PNG or JPEG bytes)."""

    _loaded = None

    def load(self):  # -> datasets.DatasetDict
        raise NotImplementedError

    def open(self):
        """The DatasetDict, loaded once per source."""
        if self._loaded is None:
            self._loaded = self.load()
        return self._loaded

    def split_names(self) -> list[str]:
        return list(self.open())

    def decode_split(self, split: str, shape: Shape) -> tuple[Split, list[str] | None]:
        return decode_hf_split(self.open()[split], f"the '{split}' split of {self}", shape, self.columns)


class ParquetSource(HFSource):
    """Parquet shards in the hub's layout: <dir>/**/<split>-00000-of-00001.parquet."""

    slug = "parquet"
    kind = "parquet files"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(root.rglob("*.parquet"))

    def shards(self) -> dict[str, list[Path]]:
        """The parquet files by split: the file name's first word (train-00000-of-00001.parquet), or the folder's
        name for numbered files (the hub's converted layout, train/0000.parquet)."""
        out: dict[str, list[Path]] = {}
        for p in sorted(p for p in self.root.rglob("*.parquet") if not p.is_dir()):
            regular_file(p)
            split = p.parent.name if p.stem.isdigit() else p.name.split("-")[0].split(".")[0]
            out.setdefault(split, []).append(p)
        return out

    def fingerprint(self) -> str:
        return _files_fingerprint([p for files in self.shards().values() for p in files])

    def split_names(self) -> list[str]:
        return list(self.shards())

    def load(self):
        datasets = quiet_datasets()
        shards = self.shards()
        self.check_columns(shards)
        try:
            return datasets.load_dataset("parquet", data_files={s: list(map(str, f)) for s, f in shards.items()})
        except Exception as e:
            cause = str(e.__cause__ or "").strip().splitlines()
            raise DataError(f"Cannot read the parquet files in {self.root}: {e}"
                            f"{f' ({cause[0]})' if cause else ''}") from None

    def check_columns(self, shards: dict[str, list[Path]]) -> None:
        """One line naming the columns of each kind of file, when the files are not one dataset's (another tool's
        tables beside them): `datasets` would fail to cast one file's columns to another's, at length."""
        import pyarrow.parquet as pq

        columns: dict[tuple[str, ...], list[Path]] = {}
        for path in (p for files in shards.values() for p in files):
            try:
                names = tuple(pq.read_schema(path).names)
            except Exception as e:
                raise DataError(f"{path} is not a parquet file minitrain can read "
                                f"({' '.join(str(e).split())[:200]}).") from None
            columns.setdefault(tuple(n for n in names if not n.startswith("__index_level_")), []).append(path)
        if len(columns) > 1:
            found = "; ".join(f"{', '.join(p.relative_to(self.root).as_posix() for p in paths[:2])}"
                              f"{' ...' if len(paths) > 2 else ''}: {', '.join(names) or 'none'}"
                              for names, paths in columns.items())
            raise DataError(f"The parquet files in {self.root} are not one dataset's; their columns are {found}. "
                            "minitrain expects every file to hold an image column (an Image feature, or PNG/JPEG "
                            "bytes) and a label column (a ClassLabel or integers): give dataset.path a folder holding "
                            "only one dataset's files.")


class SavedSource(HFSource):
    """A folder written by `DatasetDict.save_to_disk`."""

    slug = "saved"
    kind = "a save_to_disk folder"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "dataset_dict.json").is_file() or (root / "state.json").is_file()

    def fingerprint(self) -> str:
        return _files_fingerprint([regular_file(p) for p in self.root.rglob("*") if not p.is_dir()])

    def load(self):
        datasets = quiet_datasets()
        try:
            loaded = datasets.load_from_disk(str(self.root))
        except Exception as e:
            raise DataError(f"Cannot load the save_to_disk folder {self.root}: {e}") from None
        if isinstance(loaded, datasets.Dataset):
            raise DataError(
                f"{self.root} holds a single Dataset, not a DatasetDict with train and test splits. "
                "Save the whole DatasetDict (dataset_dict.save_to_disk(...))."
            )
        return loaded


class HubSource(HFSource):
    """A dataset on the Hugging Face hub, downloaded and cached by `datasets`."""

    slug = "hub"
    kind = "the Hugging Face hub"

    def __str__(self) -> str:
        return f"hub dataset {self.location}"

    def load(self):
        log.info("Asking the Hugging Face hub for %s (HF_HUB_OFFLINE=1 skips the hub)", self.location)
        return quiet_datasets().load_dataset(self.location)

    def fingerprint(self) -> str:
        dsd = self.open()
        return hashlib.sha1("|".join(f"{s}:{d._fingerprint}" for s, d in dsd.items()).encode()).hexdigest()[:16]


def quiet_datasets():
    """The `datasets` module with its own progress bars, log messages and the hub client's retry warnings off:
    minitrain reports progress itself, and what fails (a hub it cannot reach, a file it cannot read) in one line."""
    import datasets
    import huggingface_hub

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its errors come back as exceptions, said in one line
    huggingface_hub.utils.logging.set_verbosity_error()
    return datasets


def decode_hf_split(ds, what: str, shape: Shape = Shape(), columns: Columns = Columns()) -> tuple[Split, list[str] | None]:
    """Decode one `datasets.Dataset` split: its image column to uint8 N x C x H x W, its label column to int64.

    Columns not named in `columns` are found by feature type: an Image feature (or PNG bytes), a ClassLabel
    (or a column called label or labels)."""
    datasets = quiet_datasets()
    features = ds.features
    image_col = columns.image or next((c for c, f in features.items() if isinstance(f, datasets.Image)), None)
    image_col = image_col or next((c for c, f in features.items() if isinstance(f, dict) and "bytes" in f), None)
    label_col = columns.label or next((c for c, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    label_col = label_col or next((c for c in ("label", "labels") if c in features), None)
    for key, col in (("image_column", image_col), ("label_column", label_col)):
        if col is not None and col not in features:
            raise DataError(f"{what} has no column '{col}' (dataset.{key}). Its columns are: {', '.join(ds.column_names)}.")
    if image_col is None or label_col is None:
        missing, key = (("image column (an Image feature, or PNG/JPEG bytes)", "image_column") if image_col is None
                        else ("label column (a ClassLabel, or integers in one called label)", "label_column"))
        raise DataError(f"{what} has no {missing}: its columns are {', '.join(ds.column_names)}, and minitrain "
                        "expects an image column and a label column. Name the right one with "
                        f"dataset.{key}=NAME.")
    if isinstance(features[image_col], datasets.Image):
        ds = ds.cast_column(image_col, datasets.Image(decode=False))
    encoded = [_encoded(item, row, what, image_col) for row, item in enumerate(ds[image_col])]
    images = decode_images(encoded, shape, what)
    feature = features[label_col]
    dtype = getattr(feature, "dtype", "")
    if not isinstance(feature, datasets.ClassLabel) and not str(dtype).startswith(("int", "uint")):
        raise DataError(f"The '{label_col}' column of {what} holds {dtype or type(feature).__name__} values; minitrain "
                        "needs integer class indices (a ClassLabel or an integer column).")
    values = ds[label_col]
    if any(v is None for v in values):
        raise DataError(f"The '{label_col}' column of {what} has empty (null) labels; label every image.")
    labels = torch.as_tensor(np.asarray(values, dtype=np.int64))
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return Split(images, labels), names


def _encoded(item, row: int, what: str, column: str) -> bytes | Path:
    """One row's image as what decode_images reads: its encoded bytes, or the path of its file."""
    if isinstance(item, bytes):  # a plain binary column, named with dataset.image_column
        return item
    if isinstance(item, dict) and item.get("bytes") is not None:
        return item["bytes"]
    if isinstance(item, dict) and item.get("path"):
        return Path(item["path"])
    if item is None or isinstance(item, dict):
        raise DataError(f"Row {row} of {what} has no image (its '{column}' column is null); remove the row "
                        "or give it an image.")
    raise DataError(f"Row {row} of {what} holds a {type(item).__name__} in its '{column}' column, not an image "
                    "(PNG or JPEG bytes); name the image column with dataset.image_column=NAME.")


def local_source(root: Path, named_by: str) -> Source:
    """The source in a local folder, or a DataError saying why the folder is not a dataset."""
    if not root.exists():
        raise DataError(f"{named_by} {root} does not exist. Check the path, or drop it to use the system copy or the hub.")
    if not root.is_dir():
        raise DataError(
            f"{named_by} {root} is a file; it must be a folder holding the dataset "
            "(IDX files, hub-layout parquet files, a save_to_disk folder, or train/<class>/ image folders)."
        )
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"{named_by} {root} cannot be read (permission denied). Fix its permissions.")
    for source in (SavedSource, IdxSource, ParquetSource, FolderSource):
        if source.detect(root):
            return source(root)
    contents = sorted(p.name for p in root.iterdir())[:8]
    raise DataError(
        f"{named_by} {root} is not a dataset: it has no IDX files (train-images-idx3-ubyte.gz ...), "
        "no parquet files, no save_to_disk folder (dataset_dict.json) and no train/<class>/ image folders. "
        + (f"It holds: {', '.join(contents)}." if contents else "It is empty.")
    )
