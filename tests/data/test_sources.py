"""Finding and decoding a dataset: every local format gives the same tensors, class names come from
the data when it has them, decoded tensors are cached by source, and a missing dataset says where it looked."""

from __future__ import annotations

import os
import re

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


# Beyond MNIST: the user's own image folders and other hub datasets ------------------------------------------------


@pytest.fixture(scope="module")
def colour(fakes):
    return fakes.make_colour_data(n_train=60, n_test=20, size=23)  # odd-sized colour images


@pytest.mark.parametrize("valid_dir", ["test", "valid", "val"])
def test_an_image_folder_loads_in_colour_at_its_own_size_with_folder_names_as_classes(valid_dir, tmp_path, fakes,
                                                                                   colour, cache_dir, compose_config):
    root = fakes.write_folder(tmp_path / "pics", colour, valid_dir=valid_dir)
    cfg = compose_config("dataset=folder", f"dataset.path={root}")
    data = load_image_data(cfg.dataset)
    assert (data.channels, data.image_size) == (3, 23)
    assert data.classes == fakes.class_names  # class0 ... class9: sorted folder names
    assert type(find_source(cfg.dataset)).__name__ == "FolderSource"
    # Each image comes back with the label of its folder (in a fixed shuffled order, not class by class).
    written = {im.transpose(2, 0, 1).tobytes(): label for im, label in zip(colour.test_images, colour.test_labels)}
    decoded = [(im.numpy().tobytes(), int(label)) for im, label in zip(data.valid.images, data.valid.labels)]
    assert sorted(decoded) == sorted(written.items())
    assert data.valid.labels[:10].unique().numel() > 1


def test_the_training_splits_per_channel_statistics_are_computed_once_and_cached(tmp_path, fakes, colour, cache_dir,
                                                                              compose_config, monkeypatch):
    root = fakes.write_folder(tmp_path / "pics", colour)
    cfg = compose_config("dataset=folder", f"dataset.path={root}")
    first = load_image_data(cfg.dataset)
    pixels = first.train.images.double() / 255
    assert torch.allclose(first.stats.mean.double(), pixels.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(first.stats.std.double(), pixels.std(dim=(0, 2, 3), unbiased=False), atol=1e-5)
    monkeypatch.setattr("minitrain.data.channel_stats", lambda images: pytest.fail("statistics computed again"))
    assert torch.equal(load_image_data(cfg.dataset).stats.std, first.stats.std)


def test_a_folder_of_mixed_grey_and_colour_images_loads_in_colour_unless_channels_says_grey(tmp_path, fakes, colour,
                                                                                         cache_dir, compose_config):
    root = fakes.write_folder(tmp_path / "mixed", colour, grey_every=2, ext="mixed")
    assert load_image_data(compose_config("dataset=folder", f"dataset.path={root}").dataset).channels == 3
    grey = load_image_data(compose_config("dataset=folder", f"dataset.path={root}", "dataset.channels=1").dataset)
    assert grey.channels == 1 and grey.valid.images.shape[1] == 1


def test_a_folder_of_several_sizes_needs_dataset_image_size_and_is_resized_to_it(tmp_path, fakes, colour, cache_dir,
                                                                               compose_config):
    root = fakes.write_folder(tmp_path / "sizes", colour, sizes=(19, 30, 23))
    with pytest.raises(DataError, match="differ in size.*dataset.image_size"):
        load_image_data(compose_config("dataset=folder", f"dataset.path={root}").dataset)
    data = load_image_data(compose_config("dataset=folder", f"dataset.path={root}", "dataset.image_size=16").dataset)
    assert tuple(data.train.images.shape[1:]) == tuple(data.valid.images.shape[1:]) == (3, 16, 16)


def test_cifar10_reads_the_hubs_parquet_layout_with_its_img_column(tmp_path, fakes, cache_dir, compose_config):
    cifar_names = compose_config("dataset=cifar10").dataset.classes
    data_in = fakes.make_colour_data(n_train=30, n_test=10, size=32)
    root = fakes.write_hub_parquet(tmp_path / "cifar10", data_in, names=list(cifar_names))
    data = load_image_data(compose_config("dataset=cifar10", f"dataset.path={root}").dataset)
    assert tuple(data.train.images.shape) == (30, 3, 32, 32) and data.classes == list(cifar_names)
    np.testing.assert_array_equal(data.train.images.numpy(), data_in.train_images.transpose(0, 3, 1, 2))


def test_a_hub_dataset_finds_its_image_and_label_columns_by_feature_type(tmp_path, fakes, colour, cache_dir,
                                                                         compose_config):
    root = fakes.write_hub_parquet(tmp_path / "odd", colour, image_column="picture", label_column="category")
    data = load_image_data(compose_config("dataset=hub", f"dataset.path={root}").dataset)
    assert (data.channels, data.image_size, data.classes) == (3, 23, fakes.class_names)
    np.testing.assert_array_equal(data.train.labels.numpy(), colour.train_labels)


def test_a_named_column_that_does_not_exist_is_reported_with_the_columns_there_are(tmp_path, fakes, colour, cache_dir,
                                                                                    compose_config):
    root = fakes.write_hub_parquet(tmp_path / "odd", colour, image_column="picture")
    with pytest.raises(DataError, match=r"no column 'img' \(dataset.image_column\).*picture, label"):
        load_image_data(compose_config("dataset=hub", f"dataset.path={root}", "dataset.image_column=img").dataset)


def test_a_missing_split_reads_well_and_suggests_the_split_there_is(tmp_path, fakes, fake_data, cache_dir,
                                                                     compose_config):
    dsd = fakes.dataset_dict(fake_data)
    dsd.pop("test")
    dsd["validation"] = dsd["train"].select(range(10))
    dsd.save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError) as info:
        load_image_data(compose_config(f"dataset.path={tmp_path / 'saved'}").dataset)
    assert str(info.value) == (f"A save_to_disk folder at {tmp_path / 'saved'} has no 'test' split (it has: train, "
                               "validation). Set dataset.valid_split=validation to use the split it has.")


def test_the_users_own_data_is_named_after_its_folder_never_after_a_built_in_dataset(tmp_path, fakes, fake_data,
                                                                                      cache_dir, compose_config):
    from minitrain.data import shaped_config

    root = fakes.write_hub_parquet(tmp_path / "mnist", fake_data)  # the user called their folder mnist
    cfg = compose_config("dataset=hub", f"dataset.path={root}")
    data = load_image_data(cfg.dataset)
    assert shaped_config(cfg, data).dataset.name == "parquet-mnist"
    (cache_file,) = cache_dir.glob("*.pt")
    assert cache_file.name.startswith("parquet-mnist-train-test-")


def test_the_models_shape_is_filled_in_from_the_data(tmp_path, fakes, colour, cache_dir, compose_config):
    from minitrain.data import shaped_config
    from minitrain.train import build_model

    root = fakes.write_folder(tmp_path / "pics", colour)
    for model in ("mlp", "cnn", "resnet", "autoencoder"):
        cfg = compose_config("dataset=folder", f"dataset.path={root}", f"model={model}")
        assert cfg.dataset.channels is None and cfg.dataset.num_classes is None
        data = load_image_data(cfg.dataset)
        cfg = shaped_config(cfg, data)
        assert (cfg.model.in_channels, cfg.dataset.image_size, cfg.dataset.num_classes) == (3, 23, 10)
        out = build_model(cfg.model)(data.valid.images[:2].float() / 255)
        assert tuple(out.shape) == ((2, 3, 23, 23) if model == "autoencoder" else (2, 10))


def test_the_cache_lives_under_xdg_cache_home_when_minitrain_cache_is_unset(tmp_path, compose_config, monkeypatch):
    monkeypatch.delenv("MINITRAIN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for dataset in ("fashion_mnist", "mnist", "cifar10", "folder", "hub"):
        assert compose_config(f"dataset={dataset}").dataset.cache_dir == str(tmp_path / "xdg" / "minitrain")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compose_config().dataset.cache_dir == str(tmp_path / "home" / ".cache" / "minitrain")


def test_loading_a_hub_copy_prints_none_of_the_datasets_librarys_progress_bars(tmp_path, fakes, colour, cache_dir,
                                                                               compose_config, capfd):
    root = fakes.write_hub_parquet(tmp_path / "odd", colour)
    capfd.readouterr()
    load_image_data(compose_config("dataset=hub", f"dataset.path={root}").dataset)
    out, err = capfd.readouterr()
    assert "Generating" not in out + err and "%|" not in out + err, err


@pytest.mark.parametrize("dataset", ["dataset=cifar10", "dataset=hub dataset.hub_id=someone/pets"])
def test_an_unreachable_hub_dataset_says_where_minitrain_looked(dataset, cache_dir, compose_config, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = compose_config(*dataset.split())
    with pytest.raises(DataError) as info:
        load_image_data(cfg.dataset)
    message = str(info.value)
    assert cfg.dataset.hub_id in message and "dataset.path=DIR" in message and "none known" in message
    assert "None" not in message


def test_a_hub_config_without_a_hub_id_or_a_path_says_what_to_give(cache_dir, compose_config):
    for dataset in ("hub", "folder"):
        with pytest.raises(DataError, match="give dataset.path=DIR.*dataset.hub_id=OWNER/NAME"):
            load_image_data(compose_config(f"dataset={dataset}").dataset)


@pytest.mark.parametrize("override, fragment", [("dataset.channels=2", "must be 1 (grey), 3 (RGB)"),
                                                ("dataset.image_size=0", "must be a side in pixels")])
def test_a_channel_count_or_size_no_image_can_have_is_refused(override, fragment, tmp_path, fakes, colour, cache_dir,
                                                              compose_config):
    root = fakes.write_folder(tmp_path / "pics", colour)
    with pytest.raises(DataError, match=re.escape(fragment)):
        load_image_data(compose_config("dataset=folder", f"dataset.path={root}", override).dataset)


def test_the_hubs_converted_parquet_layout_takes_its_split_names_from_the_folders(tmp_path, fakes, colour, cache_dir,
                                                                                   compose_config):
    flat = fakes.write_hub_parquet(tmp_path / "flat", colour) / "plain_text"
    for split in ("train", "test"):  # plain_text/train/0000.parquet, as the hub's parquet conversion stores them
        (flat / split).mkdir()
        (flat / f"{split}-00000-of-00001.parquet").rename(flat / split / "0000.parquet")
    data = load_image_data(compose_config("dataset=hub", f"dataset.path={tmp_path / 'flat'}").dataset)
    assert (len(data.train.labels), len(data.valid.labels)) == (60, 20)


def test_hidden_folders_and_files_in_an_image_folder_are_not_classes_or_images(tmp_path, fakes, colour, cache_dir,
                                                                               compose_config):
    root = fakes.write_folder(tmp_path / "pics", colour)
    (root / "train" / ".ipynb_checkpoints").mkdir()
    (root / "train" / ".ipynb_checkpoints" / "x.png").write_bytes(b"not an image")
    (root / "train" / "class0" / "._00001.png").write_bytes(b"macOS resource fork, not an image")
    data = load_image_data(compose_config("dataset=folder", f"dataset.path={root}").dataset)
    assert data.classes == fakes.class_names and len(data.train.labels) == 60


def tamper_with_cache(cache_dir, change) -> None:
    """Rewrite the one cache file in `cache_dir` with `change(blob)` applied: a cache that loads but is inconsistent."""
    (cache_file,) = cache_dir.glob("*.pt")
    blob = torch.load(cache_file, weights_only=True)
    change(blob)
    torch.save(blob, cache_file)


@pytest.mark.parametrize("change", [
    lambda blob: blob["splits"]["train"].update(labels=blob["splits"]["train"]["labels"][:-7]),
    lambda blob: blob["splits"]["test"].update(images=blob["splits"]["test"]["images"].float()),
    lambda blob: blob["splits"]["test"].update(images=blob["splits"]["test"]["images"][:, :, :5]),
    lambda blob: blob["splits"].pop("test"),
    lambda blob: blob.update(mean=torch.zeros(3)),
    lambda blob: blob.update(classes=[1, 2]),
], ids=["fewer-labels-than-images", "float-images", "splits-of-two-shapes", "a-split-missing", "stats-of-3-channels",
        "classes-not-names"])
def test_an_inconsistent_cache_file_is_stale_and_the_data_decoded_again(change, dataset_dirs, fake_data, cache_dir,
                                                                         compose_config, caplog):
    cfg = compose_config(f"dataset.path={dataset_dirs['idx']}")
    load_image_data(cfg.dataset)
    tamper_with_cache(cache_dir, change)
    data = load_image_data(cfg.dataset)
    np.testing.assert_array_equal(data.train.images[:, 0].numpy(), fake_data.train_images)
    np.testing.assert_array_equal(data.train.labels.numpy(), fake_data.train_labels)
    np.testing.assert_array_equal(data.valid.images[:, 0].numpy(), fake_data.test_images)
    assert any("decoding again" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert load_image_data(cfg.dataset).train.labels.equal(data.train.labels)  # the rewritten cache is consistent


def make_fifo(path):
    os.mkfifo(path)
    return path


def make_socket(path):
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return path


@pytest.mark.parametrize("make, kind", [(make_fifo, "a FIFO"), (make_socket, "a socket"),
                                        (lambda p: (p.symlink_to("/dev/zero"), p)[1], "a character device"),
                                        (lambda p: (p.symlink_to(p.parent / "gone.png"), p)[1], "a link to nothing")])
def test_an_image_that_is_no_regular_file_is_refused_before_it_is_opened(make, kind, tmp_path, fakes, colour,
                                                                         cache_dir, compose_config):
    root = fakes.write_folder(tmp_path / "pics", colour)
    odd = make(root / "train" / fakes.class_names[0] / "zz-odd.png")
    with pytest.raises(DataError, match=f"{re.escape(str(odd))} .*{kind}"):
        load_image_data(compose_config("dataset=folder", f"dataset.path={root}").dataset)


@pytest.mark.parametrize("fmt, name", [("idx", "train-labels-idx1-ubyte.gz"),
                                       ("parquet", "fashion_mnist/train-00000-of-00001.parquet")])
def test_a_dataset_file_that_is_a_fifo_is_refused_instead_of_waited_on(fmt, name, tmp_path, dataset_dirs, cache_dir,
                                                                        compose_config):
    import shutil

    root = shutil.copytree(dataset_dirs[fmt], tmp_path / fmt)
    (root / name).unlink()
    make_fifo(root / name)
    with pytest.raises(DataError, match="is a FIFO"):
        load_image_data(compose_config(f"dataset.path={root}").dataset)


def test_a_long_folder_name_gives_a_short_cache_file_name_that_is_still_found_again(tmp_path, fakes, colour, cache_dir,
                                                                                  compose_config):
    root = fakes.write_folder(tmp_path / ("a" * 235), colour)
    cfg = compose_config("dataset=folder", f"dataset.path={root}")
    first = load_image_data(cfg.dataset)
    (cache_file,) = cache_dir.glob("*.pt")
    assert len(cache_file.name) <= 128 and cache_file.name.startswith("folder-aaaa")
    assert load_image_data(cfg.dataset).train.images.equal(first.train.images)
    assert len(list(cache_dir.glob("*.pt"))) == 1


def test_long_keys_that_share_a_prefix_get_different_cache_file_names():
    from minitrain.data import cache_name

    assert cache_name("x" * 300 + "1") != cache_name("x" * 300 + "2")
    assert cache_name("fashion_mnist-train-test") == "fashion_mnist-train-test"


# A source without a validation split; data that is not the configured dataset; another tool's tables --------------


def train_only_folder(root, fakes):
    """An image folder with train/ and nothing to validate on."""
    import shutil

    fakes.write_folder(root, fakes.make_colour_data(n_train=50, n_test=10))
    shutil.rmtree(root / "test")
    return root


def test_a_folder_with_only_train_holds_out_a_seeded_share_to_validate_on(tmp_path, fakes, cache_dir, compose_config):
    root = train_only_folder(tmp_path / "pets", fakes)
    cfg = compose_config("dataset=folder", f"dataset.path={root}").dataset
    data, again, other = (load_image_data(cfg, seed=s) for s in (7, 7, 8))
    assert (len(data.train.labels), len(data.valid.labels)) == (40, 10)  # dataset.valid_pct=0.2 of the 50
    assert torch.equal(data.valid.images, again.valid.images) and torch.equal(data.train.labels, again.train.labels)
    assert not torch.equal(data.valid.images, other.valid.images)  # another seed, another share
    everything = load_image_data(compose_config("dataset=folder", f"dataset.path={root}", "dataset.valid_split=train").dataset)
    seen = torch.cat([data.train.images, data.valid.images]).flatten(1)
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, everything.train.images.flatten(1).tolist()))
    assert data.validation == {"split": "train", "held_out_pct": 0.2, "seed": 7}
    assert "20% of the train split, held out at random with seed 7" in data.describe_validation()


def test_a_missing_validation_split_is_never_answered_with_the_training_split(tmp_path, fakes, cache_dir, compose_config):
    root = train_only_folder(tmp_path / "pets", fakes)
    with pytest.raises(DataError) as named:  # the fashion_mnist config names a test split
        load_image_data(compose_config(f"dataset.path={root}").dataset)
    assert "dataset.valid_split=null to validate on 20% of the train images" in str(named.value)
    with pytest.raises(DataError) as off:
        load_image_data(compose_config("dataset=folder", f"dataset.path={root}", "dataset.valid_pct=null").dataset)
    assert "dataset.valid_pct=0.2" in str(off.value)
    assert "valid_split=train" not in str(named.value) + str(off.value)


def test_too_few_images_to_hold_out_from_are_refused(tmp_path, fakes, cache_dir, compose_config):
    root = train_only_folder(tmp_path / "pets", fakes)
    with pytest.raises(DataError, match="dataset.valid_pct=0.001 of the 50 images .* leaves no image to validate on"):
        load_image_data(compose_config("dataset=folder", f"dataset.path={root}", "dataset.valid_pct=0.001").dataset)


def test_an_image_folder_under_a_built_in_config_is_named_after_the_folder_and_the_log_says_how_to_fix_it(
        tmp_path, fakes, cache_dir, compose_config, caplog):
    root = fakes.write_folder(tmp_path / "pets", fakes.make_data(n_train=40, n_test=20))
    with caplog.at_level("WARNING", logger="minitrain.data"):
        data = load_image_data(compose_config(f"dataset.path={root}").dataset)
    assert data.name == "folder-pets" and data.classes == fakes.class_names
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "names its own classes (class0" in warning and "not those of the fashion_mnist config" in warning
    assert "recorded as folder-pets" in warning and "dataset=folder" in warning


def test_an_idx_copy_under_its_own_config_keeps_the_configs_name(dataset_dirs, cache_dir, compose_config):
    assert load_image_data(compose_config(f"dataset.path={dataset_dirs['idx']}").dataset).name == "fashion_mnist"


def test_parquet_files_of_another_tool_beside_a_dataset_are_named_with_their_columns(tmp_path, cache_dir,
                                                                                     compose_config):
    import pandas as pd

    root = tmp_path / "tables"
    root.mkdir()
    for split, rows in (("train", 3), ("test", 1)):
        pd.DataFrame({"text": ["a"] * rows, "score": [1.0] * rows}).to_parquet(root / f"{split}-00000-of-00001.parquet")
    pd.DataFrame({"user": ["x"], "clicks": [4]}).to_parquet(root / "events.parquet")
    with pytest.raises(DataError) as info:
        load_image_data(compose_config(f"dataset.path={root}").dataset)
    said = str(info.value)
    assert "are not one dataset's" in said and "events.parquet: user, clicks" in said and "text, score" in said
    assert "an image column" in said and "a label column" in said and "\n" not in said
