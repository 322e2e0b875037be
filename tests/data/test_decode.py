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


# Images that are not 8-bit RGB or grey (issue 20: untrusted input) ---------------------------------------------


def sixteen_bit_ramp(size: int = 16) -> np.ndarray:
    """A 16-bit grey ramp over the whole range 0..65535: 8-bit conversion must keep it a ramp, not two values."""
    return np.linspace(0, 65535, size * size).round().astype(np.uint16).reshape(size, size)


def shape_only_in_alpha(size: int = 16) -> np.ndarray:
    """RGBA pixels whose colour is all 0 and whose picture (a square) is in the alpha channel alone."""
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[4:12, 4:12, 3] = 255
    return rgba


def as_folder_dataset(root, pictures: dict[str, object]):
    """Each PIL image saved as root/train/<class>/0.png, one class per image, and the same under root/test/."""
    for split in ("train", "test"):
        for name, picture in pictures.items():
            (root / split / name).mkdir(parents=True, exist_ok=True)
            picture.save(root / split / name / "0.png")
    return root


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped(tmp_path, compose_config, cache_dir):
    from PIL import Image

    from minitrain.data import load_image_data

    ramp = sixteen_bit_ramp()
    root = as_folder_dataset(tmp_path / "pics", {"ramp": Image.fromarray(ramp), "flat": Image.fromarray(ramp * 0)})
    assert Image.open(root / "train" / "ramp" / "0.png").mode == "I;16"
    data = load_image_data(compose_config("dataset=folder", f"dataset.path={root}").dataset)
    expected = ((ramp.astype(np.int64) + 128) // 257).astype(np.uint8)  # value / 257, rounded: 65535 -> 255
    ramp_image = data.train.images[data.train.labels == data.classes.index("ramp")][0, 0].numpy()
    np.testing.assert_array_equal(ramp_image, expected)


def test_transparent_pixels_are_composited_over_white_so_a_shape_drawn_in_alpha_shows(tmp_path, compose_config,
                                                                                     cache_dir):
    from PIL import Image

    from minitrain.data import load_image_data

    root = as_folder_dataset(tmp_path / "pics", {"square": Image.fromarray(shape_only_in_alpha(), mode="RGBA"),
                                                 "other": Image.fromarray(shape_only_in_alpha()[::-1].copy(), mode="RGBA")})
    for channels in (1, 3):
        cfg = compose_config("dataset=folder", f"dataset.path={root}", f"dataset.channels={channels}")
        data = load_image_data(cfg.dataset)
        square = data.train.images[data.train.labels == data.classes.index("square")][0].numpy()
        assert square.shape[0] == channels
        assert (square[:, 4:12, 4:12] == 0).all(), "the opaque black square"
        assert (square[:, :4] == 255).all() and (square[:, 12:] == 255).all(), "the transparent rest is white"


def test_predicting_converts_16_bit_and_transparent_images_as_training_did(tmp_path):
    from PIL import Image

    from minitrain.inference import to_stored_array

    grey = {"channels": 1, "height": 16, "width": 16, "stored_shape": [1, 16, 16]}
    ramp = sixteen_bit_ramp()
    np.testing.assert_array_equal(to_stored_array(Image.fromarray(ramp), grey)[0],
                                  ((ramp.astype(np.int64) + 128) // 257).astype(np.uint8))
    colour = {"channels": 3, "height": 16, "width": 16, "stored_shape": [3, 16, 16]}
    square = to_stored_array(Image.fromarray(shape_only_in_alpha(), mode="RGBA"), colour)
    assert (square[:, 4:12, 4:12] == 0).all() and (square[:, :4] == 255).all()


def test_an_image_path_that_is_a_fifo_is_refused_instead_of_waited_on(tmp_path):
    import os

    fifo = tmp_path / "row-7.png"  # a parquet row's image may be a path instead of bytes
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="row-7.png is a FIFO"):
        decode_images([fifo], Shape(1, 8), "rows")
