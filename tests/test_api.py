"""`from minitrain import load_run`: a finished run as an object that predicts on tensors, arrays and PIL images."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from minitrain import load_run
from minitrain.errors import CheckpointError, RunError
from minitrain.rundir import checkpoint_file


@pytest.fixture(scope="module")
def run(trained_runs):
    return load_run(trained_runs["classifier"], device="cpu")


def test_load_run_gives_the_model_in_eval_mode_with_its_classes_and_config(run, fakes):
    assert not run.model.training
    assert next(run.model.parameters()).device == torch.device("cpu")
    assert run.classes == fakes.fashion_names
    assert run.config.model._target_ == "minitrain.models.MLP" and run.config.trainer.epochs == 2


def test_predict_takes_uint8_tensors_numpy_arrays_and_pil_images_alike(run, fake_data):
    images = fake_data.test_images[:5]
    from_numpy = run.predict(images)
    assert from_numpy.shape == (5, 10) and torch.allclose(from_numpy.sum(dim=1), torch.ones(5))
    assert torch.equal(run.predict(torch.from_numpy(images)), from_numpy)
    assert torch.equal(run.predict([Image.fromarray(im) for im in images]), from_numpy)
    one = run.predict(Image.fromarray(images[0]))  # a batch of one: equal up to float rounding
    assert one.shape == (1, 10) and torch.allclose(one, from_numpy[:1], atol=1e-6)
    assert torch.equal(run.predict(images[0]), one)


def test_a_colour_image_of_another_size_is_converted_to_the_grey_size_trained_on(run, fake_data):
    grey = fake_data.test_images[0]
    big_colour = Image.fromarray(grey).convert("RGB").resize((84, 84), Image.Resampling.NEAREST)
    assert np.array_equal(run.to_stored(big_colour)[0, 0].numpy(), grey)  # stored as C x H x W
    assert np.array_equal(run.to_stored(np.asarray(big_colour))[0, 0].numpy(), grey)  # H x W x 3 array
    assert torch.equal(run.predict(big_colour), run.predict(grey))


def test_predictions_match_the_accuracy_the_run_recorded(run, fake_data):
    probs = run.predict(fake_data.test_images)
    right = int((probs.argmax(dim=1) == torch.from_numpy(fake_data.test_labels)).sum())
    assert right / len(probs) == run.recorded["valid_accuracy"]


def test_an_autoencoder_predicts_reconstructions_in_the_input_shape(trained_runs, fake_data):
    ae = load_run(trained_runs["autoencoder"], checkpoint="last", device="cpu")
    out = ae.predict(fake_data.test_images[:4])
    assert out.shape == (4, 1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_float_arrays_are_refused_with_the_conversion_to_make(run):
    with pytest.raises(RunError, match="uint8"):
        run.predict(np.zeros((28, 28), dtype=np.float32))


def test_importing_minitrain_does_not_import_torch():
    code = "import sys, minitrain; assert 'torch' not in sys.modules; minitrain.load_run; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_weights_that_do_not_fit_the_config_are_refused_on_one_line_naming_them(trained_runs, tmp_path):
    state = torch.load(checkpoint_file(trained_runs["classifier"], "last"), weights_only=True)
    state["describe"]["config"]["model"]["hidden"] = 7  # the config now describes a narrower MLP than was trained
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(CheckpointError, match=r"edited.pt does not fit the model its config describes \(.* is 50x\d+ in "
                                       r"the checkpoint, 7x\d+ here") as caught:
        load_run(trained_runs["classifier"], checkpoint=str(tmp_path / "edited.pt"), device="cpu")
    assert "\n" not in str(caught.value)
