"""Decoding encoded images: grey and colour to one channel count, any size to one side, the same result on all cores."""

from __future__ import annotations

import numpy as np
import pytest

from minitrain.data import decode
from minitrain.data.decode import Shape, decode_images
from minitrain.errors import DataError


@pytest.fixture(scope="module")
def colour(fakes):
    return fakes.make_colour_data(n_train=24, n_test=8, size=23)  # odd: no model halves it evenly


def test_colour_files_decode_to_n_x_3_x_h_x_w_with_their_pixels(tmp_path, fakes, colour):
    root = fakes.write_folder(tmp_path / "pics", colour)
    files = sorted((root / "train").rglob("*.png"), key=lambda p: p.name)
    images = decode_images(files, Shape(), "pics")
    assert tuple(images.shape) == (24, 3, 23, 23)
    np.testing.assert_array_equal(images.numpy(), colour.train_images.transpose(0, 3, 1, 2))  # PNG is lossless


def test_mixed_grey_and_colour_files_become_colour_and_grey_ones_keep_their_grey(tmp_path, fakes, colour):
    root = fakes.write_folder(tmp_path / "mixed", colour, grey_every=3)
    files = sorted((root / "train").rglob("*.png"), key=lambda p: p.name)
    images = decode_images(files, Shape(), "mixed")
    assert images.shape[1] == 3
    assert (images[0, 0] == images[0, 1]).all() and (images[0, 1] == images[0, 2]).all()  # image 0 was saved grey
    assert not (images[1, 0] == images[1, 2]).all()  # image 1 kept its colour


def test_images_of_several_sizes_ask_for_dataset_image_size(tmp_path, fakes, colour):
    root = fakes.write_folder(tmp_path / "sizes", colour, sizes=(17, 23))
    files = sorted((root / "train").rglob("*.png"))
    with pytest.raises(DataError, match=r"differ in size \(17x17, 23x23\).*dataset\.image_size=N"):
        decode_images(files, Shape(), "sizes")


def test_a_given_image_size_and_channel_count_convert_every_image_to_them(tmp_path, fakes, colour):
    root = fakes.write_folder(tmp_path / "sizes", colour, sizes=(17, 23), ext="mixed")
    files = sorted((root / "train").rglob("*.*"))
    assert {f.suffix for f in files} == {".png", ".jpg", ".bmp", ".webp"}
    images = decode_images(files, Shape(channels=1, image_size=13), "sizes")
    assert tuple(images.shape) == (24, 1, 13, 13) and images.dtype.is_floating_point is False


def test_decoding_in_worker_processes_gives_the_same_tensor_as_in_this_one(tmp_path, fakes, colour, monkeypatch):
    root = fakes.write_folder(tmp_path / "pics", colour, ext="mixed")
    files = sorted((root / "train").rglob("*.*"))
    here = decode_images(files, Shape(), "pics")
    monkeypatch.setattr(decode, "PARALLEL_FROM", 1)
    monkeypatch.setattr(decode, "CHUNK", 5)  # several chunks, finishing in any order
    monkeypatch.setattr(decode, "available_cores", lambda: 2)
    assert decode_images(files, Shape(), "pics").equal(here)


def test_a_corrupt_image_is_named(tmp_path, fakes, colour):
    root = fakes.write_folder(tmp_path / "pics", colour)
    broken = sorted((root / "train").rglob("*.png"))[3]
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DataError, match=str(broken.name)):
        decode_images(sorted((root / "train").rglob("*.png")), Shape(3, 23), "pics")
