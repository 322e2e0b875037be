"""read_idx: the IDX format of the original MNIST files, and clear errors for files that are not it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from minitrain.data.idx import read_idx
from minitrain.errors import DataError


@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_read_idx_round_trips_images_and_labels(tmp_path, fakes, gz):
    images = np.arange(3 * 28 * 28, dtype=np.uint64).reshape(3, 28, 28).astype(np.uint8)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    for name, array in (("images", images), ("labels", labels)):
        raw = fakes.idx_bytes(array)
        path = tmp_path / (f"{name}.gz" if gz else name)
        path.write_bytes(gzip.compress(raw) if gz else raw)
        out = read_idx(path)
        assert out.shape == array.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, array)


def test_read_idx_reads_big_endian_int32_data(tmp_path):
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    header = bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") * 2
    path = tmp_path / "ints-idx2"
    path.write_bytes(header + values.tobytes())
    out = read_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[1, -2], [70000, 3]])


def test_a_file_with_a_wrong_magic_number_is_not_an_idx_file(tmp_path, fakes):
    raw = bytearray(fakes.idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    raw[0:2] = b"PK"  # e.g. a zip file
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="not an IDX file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("change", [-1, +1], ids=["short", "long"])
def test_a_file_whose_size_does_not_match_its_header_is_the_wrong_size(tmp_path, fakes, change):
    raw = fakes.idx_bytes(np.zeros((2, 28, 28), np.uint8))
    raw = raw[:change] if change < 0 else raw + b"\0"
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match="wrong size"):
        read_idx(path)


def test_a_truncated_gzip_file_is_a_data_error_naming_the_file(tmp_path, fakes):
    packed = gzip.compress(fakes.idx_bytes(np.full((20, 28, 28), 100, np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="not a complete gzip file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_an_empty_file_is_not_an_idx_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(path)
