"""Finding and decoding a dataset: every local format gives the same tensors, class names come from
the data when it has them, decoded tensors are cached by source, and a missing dataset says where it looked."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from minitrain.data import find_source, load_image_data
from minitrain.data.sources import IdxSource, ParquetSource, SavedSource
from minitrain.errors import DataError

FORMATS = ["idx", "idx_raw", "parquet", "save_to_disk"]
SOURCE_TYPES = {"idx": IdxSource, "idx_raw": IdxSource, "parquet": ParquetSource, "save_to_disk": SavedSource}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_local_format_loads_the_same_images_and_labels(fmt, dataset_dirs, fake_data, cache_dir, compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs[fmt]}")
    data = load_image_data(cfg.dataset)
    for split, ours in (("train", data.train), ("test", data.valid)):
        images, labels = fake_data.split(split)
        images = images[:, None]  # grey images are stored N x 1 x H x W
        assert ours.images.dtype == torch.uint8 and tuple(ours.images.shape) == images.shape
        assert ours.labels.dtype == torch.int64
        np.testing.assert_array_equal(ours.images.numpy(), images)
        np.testing.assert_array_equal(ours.labels.numpy(), labels)


@pytest.mark.parametrize("fmt", FORMATS)
def test_find_source_recognises_each_layout(fmt, dataset_dirs, compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs[fmt]}")
    assert type(find_source(cfg.dataset)) is SOURCE_TYPES[fmt]


@pytest.mark.parametrize("fmt", ["parquet", "save_to_disk"])
def test_class_names_come_from_the_datasets_features_when_it_has_them(fmt, dataset_dirs, fakes, cache_dir,
                                                                       compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs[fmt]}")
    assert load_image_data(cfg.dataset).classes == fakes.class_names


@pytest.mark.parametrize("dataset, names", [("fashion_mnist", "fashion"), ("mnist", "digits")])
def test_idx_copies_take_class_names_from_the_dataset_config(dataset, names, dataset_dirs, fakes, cache_dir,
                                                              compose_config):
    cfg = compose_config(f"dataset={dataset}", f"dataset.path={dataset_dirs['idx']}")
    expected = fakes.fashion_names if names == "fashion" else [str(i) for i in range(10)]
    assert load_image_data(cfg.dataset).classes == expected


def test_the_loaded_data_names_its_source(dataset_dirs, cache_dir, compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs['parquet']}")
    source = load_image_data(cfg.dataset).source
    assert "parquet" in source and str(dataset_dirs["parquet"]) in source


def test_dataset_path_wins_over_the_system_copy(dataset_dirs, cache_dir, compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs['idx']}", f"dataset.system_path={dataset_dirs['parquet']}")
    assert type(find_source(cfg.dataset)) is IdxSource


def test_the_system_copy_is_used_when_no_path_is_given(dataset_dirs, fake_data, cache_dir, compose_config):
    cfg = compose_config(f"dataset.system_path={dataset_dirs['idx']}")
    data = load_image_data(cfg.dataset)
    assert str(dataset_dirs["idx"]) in data.source
    np.testing.assert_array_equal(data.train.labels.numpy(), fake_data.train_labels)


@pytest.mark.parametrize("fmt", ["idx", "parquet"])
def test_a_second_load_reads_the_cache_instead_of_decoding_again(fmt, dataset_dirs, cache_dir, compose_config,
                                                                 monkeypatch):
    cfg = compose_config(f"dataset.path={dataset_dirs[fmt]}")
    source_type = SOURCE_TYPES[fmt]
    decode, calls = source_type.decode, []

    def counting_decode(self, splits):
        calls.append(splits)
        return decode(self, splits)

    monkeypatch.setattr(source_type, "decode", counting_decode)
    first = load_image_data(cfg.dataset)
    assert len(calls) == 1
    assert [p.name for p in cache_dir.glob("*.pt")] != []

    def no_decode(self, splits):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(source_type, "decode", no_decode)
    second = load_image_data(cfg.dataset)
    assert torch.equal(second.train.images, first.train.images)
    assert torch.equal(second.valid.labels, first.valid.labels)
    assert second.classes == first.classes


def test_the_cache_file_lives_in_the_configured_cache_dir_and_is_named_after_the_dataset(dataset_dirs, cache_dir,
                                                                                          compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs['idx']}")
    assert cfg.dataset.cache_dir == str(cache_dir)
    load_image_data(cfg.dataset)
    files = list(cache_dir.iterdir())
    assert len(files) == 1 and files[0].name.startswith("fashion_mnist-train-test-") and files[0].suffix == ".pt"


def test_changing_the_source_files_changes_the_cache_key(tmp_path, fakes, fake_data, cache_dir, compose_config):
    root = fakes.write_idx(tmp_path / "copy", fake_data)
    cfg = compose_config(f"dataset.path={root}")
    load_image_data(cfg.dataset)
    assert len(list(cache_dir.glob("*.pt"))) == 1

    # Same shape, new labels: only the content and the modification time differ.
    new = fakes.FakeData(fake_data.train_images, (fake_data.train_labels + 1) % 10, fake_data.test_images,
                         fake_data.test_labels)
    fakes.write_idx(root, new)
    labels_file = root / "train-labels-idx1-ubyte.gz"
    st = labels_file.stat()
    os.utime(labels_file, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # as if written 5 s later

    data = load_image_data(cfg.dataset)
    assert len(list(cache_dir.glob("*.pt"))) == 2
    np.testing.assert_array_equal(data.train.labels.numpy(), new.train_labels)


def test_an_unreadable_cache_file_is_ignored_and_the_data_decoded_again(dataset_dirs, fake_data, cache_dir,
                                                                         compose_config):
    cfg = compose_config(f"dataset.path={dataset_dirs['idx']}")
    load_image_data(cfg.dataset)
    (cache_file,) = cache_dir.glob("*.pt")
    cache_file.write_bytes(b"not a torch file")
    data = load_image_data(cfg.dataset)
    np.testing.assert_array_equal(data.train.images[:, 0].numpy(), fake_data.train_images)


def test_a_missing_split_is_named(tmp_path, fakes, fake_data, cache_dir, compose_config):
    dsd = fakes.dataset_dict(fake_data)
    folder = tmp_path / "only-train" / "fashion_mnist"
    folder.mkdir(parents=True)
    dsd["train"].to_parquet(str(folder / "train-00000-of-00001.parquet"))
    cfg = compose_config(f"dataset.path={tmp_path / 'only-train'}")
    with pytest.raises(DataError, match="no 'test' split"):
        load_image_data(cfg.dataset)


def test_when_no_copy_is_reachable_the_error_lists_the_three_places_looked(cache_dir, compose_config, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = compose_config("dataset.system_path=/nonexistent/fashion-mnist")
    with pytest.raises(DataError) as info:
        load_image_data(cfg.dataset)
    message = str(info.value)
    assert "dataset.path" in message  # (1) an explicit copy
    assert "/nonexistent/fashion-mnist" in message  # (2) the system copy
    assert "zalando-datasets/fashion_mnist" in message and "hub" in message  # (3) the hub
    assert not list(cache_dir.glob("*.pt"))


@pytest.mark.parametrize("dataset", ["fashion_mnist", "mnist"])
@pytest.mark.parametrize("offline", ["1", ""])
def test_with_no_copy_reachable_the_fixes_offered_fit_the_dataset_and_the_hub_setting(
        dataset, offline, tmp_path, compose_config, monkeypatch):
    """Debian packages Fashion-MNIST only; HF_HUB_OFFLINE=1 is suggested only when it is not already set."""
    from minitrain.data import _not_found

    cfg = compose_config(f"dataset={dataset}", f"dataset.system_path={tmp_path / 'none'}").dataset
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    message = str(_not_found(cfg, OSError("offline")))
    assert cfg.hub_id in message and str(tmp_path / "none") in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (dataset == "fashion_mnist")
    assert ("unset HF_HUB_OFFLINE" in message) == (offline == "1")
    assert ("set HF_HUB_OFFLINE=1" in message) == (offline != "1")
