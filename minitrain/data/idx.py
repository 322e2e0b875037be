"""Read the IDX format of the original MNIST and Fashion-MNIST files (gzipped or not)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from minitrain.data.paths import regular_file
from minitrain.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file; a clear DataError if the file is not one or is cut short."""
    regular_file(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DataError(
            f"{path} is not a complete gzip file ({e}). It was probably cut short while downloading: "
            "fetch it again, or point dataset.path at another copy."
        ) from None
    except OSError as e:
        raise DataError(f"Cannot read {path}: {e.strerror or e}. Check the file's permissions.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DataError(
            f"{path} is not an IDX file: its first bytes {raw[:4].hex(' ')} are not an IDX magic number "
            "(00 00 <type> <dims>). Use the original files, e.g. train-images-idx3-ubyte.gz."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is cut short: its header announces {ndim} dimensions but the file ends first. "
                        "Fetch it again.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_DTYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: a forged header cannot overflow them
    if len(raw) != expected:
        raise DataError(
            f"{path} is the wrong size: its header promises shape {shape} ({expected} bytes), "
            f"but it holds {len(raw)} bytes. The file is truncated or corrupt: fetch it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
