"""Find a dataset (an explicit path, a system-wide copy, the Hugging Face hub) and decode its splits.

Every source ends as the same thing: per split, one uint8 tensor of images (N x H x W) and one
int64 tensor of labels, decoded once so that training never touches a PNG.
"""

from __future__ import annotations

import hashlib
import io
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from minitrain import interrupts
from minitrain.data.idx import read_idx
from minitrain.errors import DataError


@dataclass
class Split:
    """One split, decoded: images as uint8 (N x H x W), labels as int64 (N)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class Decoded:
    """What a source yields: its splits by name, and class names when the source carries them."""

    splits: dict[str, Split]
    classes: list[str] | None


class Source(ABC):
    """A place the images come from."""

    kind: str

    def __init__(self, location: str) -> None:
        self.location = location

    def __str__(self) -> str:
        return f"{self.kind} at {self.location}"

    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the source's content may have changed; keys the decoded-tensor cache."""

    @abstractmethod
    def decode(self, splits: list[str]) -> Decoded:
        """Decode the named splits into tensors."""


def _files_fingerprint(files: list[Path]) -> str:
    """Changes when a file is replaced or edited in place, even if its modification time was set back
    (the inode changes on replace, the status-change time on any write, and neither can be set by hand)."""
    h = hashlib.sha1()
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}|{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:16]


class IdxSource(Source):
    """The original MNIST-style files: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]."""

    kind = "IDX files"
    PREFIX = {"train": "train", "test": "t10k"}

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def find(cls, root: Path, prefix: str, what: str) -> Path | None:
        for name in (f"{prefix}-{what}-ubyte.gz", f"{prefix}-{what}-ubyte", f"{prefix}-{what.replace('-', '.')}-ubyte"):
            if (root / name).is_file():
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

    def decode(self, splits: list[str]) -> Decoded:
        out = {}
        for split in splits:
            interrupts.check()
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
            out[split] = Split(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)))
        return Decoded(out, classes=None)


class HFSource(Source):
    """A Hugging Face `datasets` DatasetDict whose image column holds encoded images (PNG bytes)."""

    def open(self):  # -> datasets.DatasetDict
        raise NotImplementedError

    def decode(self, splits: list[str]) -> Decoded:
        dsd = self.open()
        out, classes = {}, None
        for split in splits:
            if split not in dsd:
                raise DataError(f"The {self} has no '{split}' split; it has: {', '.join(dsd)}.")
            out[split], names = decode_hf_split(dsd[split], f"the '{split}' split of the {self}")
            classes = classes or names
        return Decoded(out, classes)


class ParquetSource(HFSource):
    """Parquet shards in the hub's layout: <dir>/**/<split>-00000-of-00001.parquet."""

    kind = "parquet files"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return any(root.rglob("*.parquet"))

    def shards(self, split: str) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.parquet") if p.name.split("-")[0].split(".")[0] == split)

    def fingerprint(self) -> str:
        return _files_fingerprint(list(self.root.rglob("*.parquet")))

    def open(self):
        import datasets

        files = {s: [str(p) for p in self.shards(s)] for s in ("train", "test", "validation")}
        files = {s: f for s, f in files.items() if f}
        if not files:
            raise DataError(
                f"{self.root} holds parquet files, but none is named like a split "
                "(train-00000-of-00001.parquet, test-00000-of-00001.parquet)."
            )
        try:
            return datasets.load_dataset("parquet", data_files=files)
        except Exception as e:
            raise DataError(f"Cannot read the parquet files in {self.root}: {e}") from None


class SavedSource(HFSource):
    """A folder written by `DatasetDict.save_to_disk`."""

    kind = "a save_to_disk folder"

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "dataset_dict.json").is_file() or (root / "state.json").is_file()

    def fingerprint(self) -> str:
        return _files_fingerprint([p for p in self.root.rglob("*") if p.is_file()])

    def open(self):
        import datasets

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

    kind = "the Hugging Face hub"

    def __init__(self, hub_id: str) -> None:
        super().__init__(hub_id)
        self._dsd = None

    def __str__(self) -> str:
        return f"hub dataset {self.location}"

    def open(self):
        if self._dsd is None:
            import datasets

            self._dsd = datasets.load_dataset(self.location)
        return self._dsd

    def fingerprint(self) -> str:
        dsd = self.open()
        return hashlib.sha1("|".join(f"{s}:{d._fingerprint}" for s, d in dsd.items()).encode()).hexdigest()[:16]


def decode_hf_split(ds, what: str) -> tuple[Split, list[str] | None]:
    """Decode one `datasets.Dataset` split: its image column to uint8, its label column to int64."""
    import datasets
    from PIL import Image as PILImage

    image_col = next((c for c, f in ds.features.items() if isinstance(f, datasets.Image)), None)
    if image_col is None:
        image_col = next((c for c, f in ds.features.items() if isinstance(f, dict) and "bytes" in f), None)
    label_col = next((c for c, f in ds.features.items() if isinstance(f, datasets.ClassLabel)), None)
    if label_col is None:
        label_col = next((c for c in ("label", "labels") if c in ds.features), None)
    if image_col is None or label_col is None:
        missing = "image column (an Image feature, or PNG bytes)" if image_col is None else "label column"
        raise DataError(f"{what} has no {missing}. Its columns are: {', '.join(ds.column_names)}.")
    if isinstance(ds.features[image_col], datasets.Image):
        ds = ds.cast_column(image_col, datasets.Image(decode=False))
    images = []
    for i, item in enumerate(ds[image_col]):
        interrupts.check()  # decoding a large split takes a while: Ctrl-C stops it here
        try:
            images.append(np.asarray(PILImage.open(io.BytesIO(item["bytes"])).convert("L")))
        except Exception as e:
            raise DataError(f"Image {i} of {what} cannot be decoded ({e}); the file is corrupt.") from None
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataError(f"The images of {what} differ in size ({', '.join(map(str, sorted(shapes)))}).")
    feature = ds.features[label_col]
    dtype = getattr(feature, "dtype", "")
    if not isinstance(feature, datasets.ClassLabel) and not str(dtype).startswith(("int", "uint")):
        raise DataError(f"The '{label_col}' column of {what} holds {dtype or type(feature).__name__} values; minitrain "
                        "needs integer class indices (a ClassLabel or an integer column).")
    values = ds[label_col]
    if any(v is None for v in values):
        raise DataError(f"The '{label_col}' column of {what} has empty (null) labels; label every image.")
    labels = torch.as_tensor(np.asarray(values, dtype=np.int64))
    names = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return Split(torch.from_numpy(np.stack(images)), labels), names


def local_source(root: Path, named_by: str) -> Source:
    """The source in a local folder, or a DataError saying why the folder is not a dataset."""
    if not root.exists():
        raise DataError(f"{named_by} {root} does not exist. Check the path, or drop it to use the system copy or the hub.")
    if not root.is_dir():
        raise DataError(
            f"{named_by} {root} is a file; it must be a folder holding the dataset "
            "(IDX files, hub-layout parquet files, or a save_to_disk folder)."
        )
    if not os.access(root, os.R_OK | os.X_OK):
        raise DataError(f"{named_by} {root} cannot be read (permission denied). Fix its permissions.")
    for source in (SavedSource, IdxSource, ParquetSource):
        if source.detect(root):
            return source(root)
    contents = sorted(p.name for p in root.iterdir())[:8]
    raise DataError(
        f"{named_by} {root} is not a dataset: it has no IDX files (train-images-idx3-ubyte.gz ...), "
        "no parquet files and no save_to_disk folder (dataset_dict.json). "
        + (f"It holds: {', '.join(contents)}." if contents else "It is empty.")
    )
