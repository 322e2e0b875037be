"""`minitrain predict run=DIR inputs=PATH`: predictions for image files of any size and colour, folders and datasets."""

from __future__ import annotations

import pytest
from PIL import Image


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, fake_data):
    """A folder of the fake test images as files: grey PNG at 28x28, colour JPG at 84x84, BMP at 56x40, in a subfolder."""
    folder = tmp_path_factory.mktemp("inputs") / "images"
    (folder / "sub").mkdir(parents=True)
    images = fake_data.test_images
    Image.fromarray(images[0]).save(folder / "a.png")
    Image.fromarray(images[1]).convert("RGB").resize((84, 84), Image.Resampling.NEAREST).save(folder / "b.jpg", quality=95)
    Image.fromarray(images[2]).resize((40, 56), Image.Resampling.NEAREST).save(folder / "sub" / "c.bmp")
    (folder / "notes.txt").write_text("not an image, and not named like one: skipped")
    return folder


@pytest.fixture(scope="module")
def predictions(trained_runs, inputs, dataset_dirs, run_cli_many, tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    clf, ae = trained_runs["classifier"], trained_runs["autoencoder"]
    jobs = {
        "folder": [f"run={clf}", f"inputs={inputs}", f"out={base / 'folder'}"],
        "file": [f"run={clf}", f"inputs={inputs / 'a.png'}", "top=1", f"out={base / 'file'}"],
        "dataset": [f"run={clf}", f"inputs={dataset_dirs['idx']}", f"out={base / 'dataset'}"],
        "autoencoder": [f"run={ae}", f"inputs={inputs}"],
    }
    done = run_cli_many({name: (base / f"cwd_{name}", ["predict", *args], {}) for name, args in jobs.items()})
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
    return {name: (base / name if name != "autoencoder" else ae / "predict", proc) for name, proc in done.items()}


def test_predict_on_a_folder_lists_every_image_with_its_class_probability_and_next_guesses(predictions, fakes):
    out, proc = predictions["folder"]
    header, rows = fakes.read_csv(out / "predictions.csv")
    assert header[:3] == ["file", "prediction", "probability"]
    assert header[3:] == ["top2", "probability2", "top3", "probability3"]
    assert [r["file"] for r in rows] == ["a.png", "b.jpg", "sub/c.bmp"]
    for row in rows:
        assert row["prediction"] in fakes.fashion_names
        assert 1 >= float(row["probability"]) >= float(row["probability2"]) >= float(row["probability3"]) > 0
    assert fakes.is_png(out / "predictions.png", min_bytes=1000)
    assert "a.png" in proc.stdout and str(out) in proc.stdout


def test_predict_on_files_agrees_with_load_run_on_the_same_images(predictions, trained_runs, inputs, fakes):
    from minitrain import load_run

    run = load_run(trained_runs["classifier"], device="cpu")
    files = [inputs / "a.png", inputs / "b.jpg", inputs / "sub" / "c.bmp"]
    probs = run.predict([Image.open(f) for f in files])
    _, rows = fakes.read_csv(predictions["folder"][0] / "predictions.csv")
    assert [r["prediction"] for r in rows] == [run.classes[k] for k in probs.argmax(dim=1)]
    assert [float(r["probability"]) for r in rows] == pytest.approx(probs.max(dim=1).values.tolist(), abs=1e-4)


def test_predict_on_one_file_writes_one_row(predictions, fakes):
    header, rows = fakes.read_csv(predictions["file"][0] / "predictions.csv")
    assert header == ["file", "prediction", "probability"] and [r["file"] for r in rows] == ["a.png"]


def test_predict_on_a_dataset_folder_uses_its_validation_split_and_agrees_with_eval(predictions, trained_runs, fakes):
    import json

    header, rows = fakes.read_csv(predictions["dataset"][0] / "predictions.csv")
    assert len(rows) == 100 and rows[0]["file"] == "test/0"
    labels = fakes.make_data().test_labels
    right = sum(r["prediction"] == fakes.fashion_names[y] for r, y in zip(rows, labels))
    summary = json.loads((trained_runs["classifier"] / "summary.json").read_text())
    assert right / 100 == summary["best"]["value"]  # predict uses best.pt by default, like eval


def test_predict_with_an_autoencoder_writes_per_image_mse_and_a_reconstruction_grid(predictions, fakes):
    out, _ = predictions["autoencoder"]
    header, rows = fakes.read_csv(out / "predictions.csv")
    assert header == ["file", "mse", "psnr"] and len(rows) == 3
    assert all(0 <= float(r["mse"]) < 1 for r in rows)
    assert fakes.is_png(out / "reconstructions.png", min_bytes=1000)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: (tmp / "x.png").write_bytes(b"not a png") and tmp / "x.png", "is not an image minitrain can read"),
    (lambda tmp: (tmp / "notes.txt").write_text("hello") and tmp / "notes.txt", "is not an image minitrain can read"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "holds no images"),
    (lambda tmp: tmp / "missing.png", "does not exist"),
])
def test_predict_refuses_inputs_that_are_not_images_with_one_line_and_exit_2(trained_runs, run_cli, tmp_path, make, message):
    path = make(tmp_path)
    proc = run_cli(tmp_path, "predict", f"run={trained_runs['classifier']}", f"inputs={path}")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_predict_help_lists_its_options(run_cli, tmp_path):
    proc = run_cli(tmp_path, "predict", "--help")
    assert proc.returncode == 0 and "inputs=PATH" in proc.stdout


def test_a_class_named_like_a_spreadsheet_formula_is_written_escaped(fakes, run_cli, tmp_path):
    evil = '=HYPERLINK("https:evil.example","click")'  # a class folder's name is whatever its owner chose
    names = [evil, *fakes.class_names[1:]]
    data = fakes.write_folder(tmp_path / "data", fakes.make_data(n_train=40, n_test=10), names=names)
    run = tmp_path / "run"
    trained = run_cli(tmp_path, *fakes.tiny, "dataset=folder", f"dataset.path={data}", f"hydra.run.dir={run}")
    assert trained.returncode == 0, trained.stderr[-3000:]
    done = run_cli(tmp_path, "predict", f"run={run}", f"inputs={data / 'test'}", "top=10", f"out={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-3000:]
    _, rows = fakes.read_csv(tmp_path / "out" / "predictions.csv")
    cells = [cell for row in rows for cell in row.values()]
    assert "'" + evil in cells and not [c for c in cells if c.startswith("=")]
