"""eval and predict on a run trained on colour images of another size (issue #12 with #11's commands): the
checkpoint's normalisation and channels are applied, so eval repeats the run's accuracy and predict reads
every image type a folder dataset holds."""

from __future__ import annotations

import csv
import json

import pytest


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory, fakes, run_cli):
    base = tmp_path_factory.mktemp("colour-run")
    from conftest import make_colour_data, write_folder

    data = write_folder(base / "data", make_colour_data(n_train=200, n_test=60, size=32), ext="mixed", grey_every=7)
    run = base / "run"
    proc = run_cli(base, "dataset=folder", f"dataset.path={data}", "model=cnn", "trainer.epochs=2",
                   "callbacks.images.n_images=12", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base, data, run


def test_eval_of_a_colour_run_repeats_the_accuracy_it_recorded(colour_run, run_cli):
    base, _, run = colour_run
    proc = run_cli(base, "eval", f"run={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / "eval" / "eval.json").read_text())
    recorded = json.loads((run / "summary.json").read_text())["best"]["value"]
    assert report["valid_accuracy"] == pytest.approx(recorded, abs=1e-9)


def test_predict_on_a_colour_folder_reads_every_image_type_and_agrees_with_eval(colour_run, run_cli):
    base, data, run = colour_run
    proc = run_cli(base, "predict", f"run={run}", f"inputs={data / 'test'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with (run / "predict" / "predictions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60, "an image type the folder dataset reads (PNG, JPG, BMP, WebP) was skipped"
    assert {r["file"].rsplit(".", 1)[1] for r in rows} == {"png", "jpg", "bmp", "webp"}
    right = sum(r["file"].split("/")[0] == r["prediction"] for r in rows) / len(rows)
    recorded = json.loads((run / "summary.json").read_text())["best"]["value"]
    assert right == pytest.approx(recorded, abs=1e-9)  # the same files, converted as training converted them
