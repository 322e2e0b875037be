"""The `minitrain` command on the user's own images (issue #12): a folder of colour pictures of an odd size in
mixed formats trains every model end to end, on the data-on-device path too, draws colour pictures with the
folder names, checkpoints and resumes; a hub dataset that cannot be reached fails in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from conftest import completed


@pytest.fixture(scope="module")
def own_runs(tmp_path_factory, fakes, run_cli_many):
    """{name: (run dir, completed process)} for runs on one folder of mixed grey/colour 23x23 PNG/JPEG/BMP/WebP."""
    base = tmp_path_factory.mktemp("own")
    names = ["cat", "dog", "fox", "owl", "eel", "bee", "ant", "cow", "elk", "yak"]
    pics = fakes.write_folder(base / "pics", fakes.make_colour_data(size=23), names=names, ext="mixed",
                              grey_every=7, valid_dir="val")
    folder = ["dataset=folder", f"dataset.path={pics}", "trainer.epochs=1", "callbacks.images.n_images=12"]
    jobs = {
        "cnn_on_device": [*folder, "model=cnn", "loader.on_device=true", "loader.batch_size=16"],
        "resnet": [*folder, "model=resnet", "model.channels=[4,8]", "augment=flip_crop", "loader.batch_size=16"],
        "autoencoder": [*folder, "model=autoencoder", "model.channels=[4,8,8]", "augment=flip_crop"],
        "mlp": [*folder, "model=mlp", "loader.num_workers=1"],
        "hub_unreachable": ["dataset=hub", "dataset.hub_id=someone/pets"],
    }
    done = run_cli_many({name: (base / name, [*args, f"hydra.run.dir={base / name / 'run'}"], {})
                         for name, args in jobs.items()})
    runs = {name: (base / name / "run", proc) for name, proc in done.items()}
    # Resume the MLP for a second epoch: its checkpoint holds a model built for 3 x 23 x 23 inputs.
    first = runs["mlp"][0]
    runs["resumed"] = (first, run_cli_many({"resumed": (base / "resumed", [*folder, "model=mlp", "trainer.epochs=2",
                                                                           f"resume={first}"], {})})["resumed"])
    return runs, names


@pytest.mark.parametrize("name", ["cnn_on_device", "resnet", "autoencoder", "mlp"])
def test_every_model_trains_on_a_folder_of_colour_images_of_an_odd_size(name, own_runs):
    run_dir, _ = completed(own_runs[0][name])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["dataset"] == "folder-pics"


def test_the_data_on_device_path_serves_colour_batches(own_runs):
    run_dir, proc = completed(own_runs[0]["cnn_on_device"])
    assert "loader.on_device" not in proc.stderr  # accepted on the CPU: the device is the CPU
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_a_classifier_draws_colour_samples_and_predictions_named_by_the_folders(own_runs, fakes):
    run_dir, _ = completed(own_runs[0]["resnet"])
    for picture in ("samples.png", "predictions.png"):
        assert fakes.is_png(run_dir / picture, min_bytes=10_000)
        with Image.open(run_dir / picture) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.int32)
        assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 100  # colour pixels drawn, not grey ones
    log = (run_dir / "minitrain.log").read_text()
    assert "23x23, 3 channels" in log


def test_an_autoencoder_reconstructs_colour_images_at_their_own_size(own_runs, fakes):
    run_dir, _ = completed(own_runs[0]["autoencoder"])
    assert fakes.is_png(run_dir / "reconstructions" / "epoch_001.png")
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    weights = state["model"] if "model" in state else state
    first_conv = next(v for k, v in weights.items() if k.endswith("weight") and v.ndim == 4)
    assert first_conv.shape[1] == 3  # the encoder takes three channels


def test_a_run_on_colour_images_resumes_from_its_checkpoint(own_runs, fakes):
    run_dir, proc = completed(own_runs[0]["resumed"])
    _, rows = fakes.read_csv(run_dir / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]


def test_an_unreachable_hub_dataset_fails_in_one_line_with_exit_2(own_runs):
    _, proc = own_runs[0]["hub_unreachable"]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "someone/pets" in errors[0] and "dataset.path=DIR" in errors[0]
