"""A run directory from someone else is untrusted input: nothing in it runs code, writes outside it, overwrites
it, or silently gives a wrong answer (issue 20). Every refusal is one line, exit 2, nothing damaged."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import toy_fit
from minitrain import load_run
from minitrain.errors import CheckpointError, OutputError


def copy_run(trained_runs, tmp_path, name: str = "classifier") -> Path:
    return Path(shutil.copytree(trained_runs[name], tmp_path / "sent"))


def edit_checkpoint(run_dir: Path, change, which: str = "best") -> None:
    """Rewrite a checkpoint as a hostile or careless sender would: `change(state)` edits it in place."""
    path = run_dir / "checkpoints" / f"{which}.pt"
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_refusal(proc, *needles: str) -> None:
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text[-2000:]
    assert "Traceback" not in text
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


# Code execution -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["eval", "predict", "export"])
def test_a_nested_target_planted_in_a_checkpoints_model_config_never_runs(trained_runs, run_cli, tmp_path, fakes,
                                                                        fake_data, command):
    run_dir = copy_run(trained_runs, tmp_path)
    marker = tmp_path / "pwned"
    chain = {"_target_": "builtins.open", "_args_": [str(marker), "w"]}  # would create the marker file
    edit_checkpoint(run_dir, lambda s: s["describe"]["config"]["model"].__setitem__("hidden", chain))
    image = tmp_path / "one.png"
    image.write_bytes(fakes.png_bytes(fake_data.test_images[0]))
    extra = [f"inputs={image}"] if command == "predict" else []
    proc = run_cli(tmp_path / "cwd", command, f"run={run_dir}", *extra)
    one_line_refusal(proc, "model.hidden._target_ is not a plain value")
    assert not marker.exists()


def test_load_run_refuses_a_planted_target_chain_without_running_it(trained_runs, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    marker = tmp_path / "pwned"
    chain = {"_target_": "builtins.open", "_args_": [str(marker), "w"]}
    edit_checkpoint(run_dir, lambda s: s["describe"]["config"]["model"].__setitem__("hidden", chain))
    with pytest.raises(CheckpointError, match="not a plain value"):
        load_run(run_dir, device="cpu")
    assert not marker.exists()


def test_an_interpolation_planted_anywhere_in_a_checkpoints_config_is_refused(trained_runs, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    edit_checkpoint(run_dir, lambda s: s["describe"]["config"]["loader"].__setitem__("batch_size", "${oc.env:HOME}"))
    with pytest.raises(CheckpointError, match=r"describe.config.loader.batch_size holds an interpolation"):
        load_run(run_dir, device="cpu")


def test_a_model_class_outside_minitrain_is_imported_only_with_trust(trained_runs, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    edit_checkpoint(run_dir, lambda s: s["describe"]["config"]["model"].__setitem__("_target_", "torch.nn.Identity"))
    with pytest.raises(CheckpointError, match="torch.nn.Identity, a class outside minitrain.*trust=true"):
        load_run(run_dir, device="cpu")
    # trusted, the class is built; its weights then do not fit, which is the next check's to say
    with pytest.raises(CheckpointError, match="does not fit the model its config describes"):
        load_run(run_dir, device="cpu", trust=True)


def test_eval_builds_a_trusted_runs_own_class_with_trust_true(trained_runs, run_cli, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    edit_checkpoint(run_dir, lambda s: s["describe"]["config"]["model"].__setitem__("_target_", "torch.nn.Identity"))
    one_line_refusal(run_cli(tmp_path / "cwd", "eval", f"run={run_dir}"), "outside minitrain", "trust=true")
    trusted = run_cli(tmp_path / "cwd", "eval", f"run={run_dir}", "trust=true")
    one_line_refusal(trusted, "does not fit the model")  # got past the import: the weights are the next check


HAND_EDITS = {
    "format": (lambda s: s["describe"].__setitem__("format", "one"), "describe.format"),
    "no-classes": (lambda s: s["describe"].pop("classes"), "describe.classes"),
    "empty-classes": (lambda s: s["describe"].__setitem__("classes", []), "describe.classes names 0"),
    "no-epoch": (lambda s: s.pop("epoch"), "lacks epoch"),
    "negative-epoch": (lambda s: s.__setitem__("epoch", -3), "'epoch' must be a count"),
    "unknown-task": (lambda s: s["describe"].__setitem__("task", "segmentation"), "describe.task"),
    "history-not-a-list": (lambda s: s.__setitem__("history", "1,2,3"), "'history' must be a list"),
    "zero-height": (lambda s: s["describe"]["input"].__setitem__("height", 0), "describe.input.height"),
    "two-channels": (lambda s: s["describe"]["input"].__setitem__("channels", 2), "describe.input.channels"),
    "huge-image": (lambda s: s["describe"]["input"].__setitem__("width", 10**6), "describe.input.width"),
    "zero-std": (lambda s: s["describe"]["input"]["normalize"].__setitem__("std", [0.0]), "std must be positive"),
    "nan-mean": (lambda s: s["describe"]["input"]["normalize"].__setitem__("mean", [float("nan")]), "normalize.mean"),
    "weights-not-tensors": (lambda s: s.__setitem__("model", {"w": "x"}), "'model' must map weight names"),
    "no-target": (lambda s: s["describe"]["config"]["model"].pop("_target_"), "_target_ is missing"),
    "bad-precision": (lambda s: s["describe"]["config"]["trainer"].__setitem__("precision", "fp8"), "precision"),
    "bad-batch-size": (lambda s: s["describe"]["config"]["loader"].__setitem__("batch_size", 0), "batch size"),
}


@pytest.mark.parametrize("name", HAND_EDITS)
def test_a_hand_edited_checkpoint_is_refused_on_one_line_naming_the_file_and_the_key(trained_runs, fake_data,
                                                                                     tmp_path, name):
    from minitrain.evaluation import run_batch_size

    change, key = HAND_EDITS[name]
    run_dir = copy_run(trained_runs, tmp_path)
    edit_checkpoint(run_dir, change)
    with pytest.raises(CheckpointError) as refused:
        run = load_run(run_dir, device="cpu")
        run_batch_size(run)  # what eval reads beyond load_run
    message = str(refused.value)
    assert key in message and "best.pt" in message and "\n" not in message


def test_eval_of_a_hand_edited_checkpoint_exits_2_without_a_traceback(trained_runs, run_cli, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    edit_checkpoint(run_dir, lambda s: s["describe"]["input"]["normalize"].__setitem__("std", [0.0]))
    one_line_refusal(run_cli(tmp_path / "cwd", "eval", f"run={run_dir}"), "std must be positive")
    image = tmp_path / "one.png"
    image.write_bytes(b"\x89PNG not really")
    one_line_refusal(run_cli(tmp_path / "cwd", "predict", f"run={run_dir}", f"inputs={image}"), "best.pt")


# Writes stay inside, and are atomic ----------------------------------------------------------------------------

@pytest.mark.parametrize("command, folder", [("eval", "eval"), ("export", "export")])
def test_a_report_folder_planted_as_a_link_is_refused_and_its_target_untouched(trained_runs, run_cli, tmp_path,
                                                                               command, folder):
    run_dir = copy_run(trained_runs, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    shutil.rmtree(run_dir / folder, ignore_errors=True)
    (run_dir / folder).symlink_to(outside, target_is_directory=True)
    one_line_refusal(run_cli(tmp_path / "cwd", command, f"run={run_dir}"), "is a symbolic link")
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_a_report_file_planted_as_a_link_is_refused_and_its_target_untouched(trained_runs, run_cli, tmp_path):
    run_dir = copy_run(trained_runs, tmp_path)
    target = tmp_path / "precious.json"
    target.write_text("keep me")
    (run_dir / "export").mkdir(exist_ok=True)
    (run_dir / "export" / "model.json").symlink_to(target)
    one_line_refusal(run_cli(tmp_path / "cwd", "export", f"run={run_dir}"), "model.json is a symbolic link")
    assert target.read_text() == "keep me"


def test_write_atomic_refuses_a_link_where_the_file_should_be(tmp_path):
    from minitrain.atomic import write_json

    (tmp_path / "target").write_text("keep me")
    (tmp_path / "summary.json").symlink_to(tmp_path / "target")
    with pytest.raises(OutputError, match="is a symbolic link"):
        write_json(tmp_path / "summary.json", {"status": "completed"})
    assert (tmp_path / "target").read_text() == "keep me"


def test_a_full_disk_during_export_keeps_the_previous_export_and_says_so_on_one_line(trained_runs, run_cli,
                                                                                    tmp_path, monkeypatch, capsys):
    from minitrain import atomic
    from minitrain.commands import run_command

    run_dir = copy_run(trained_runs, tmp_path)
    assert run_cli(tmp_path / "cwd", "export", f"run={run_dir}").returncode == 0
    before = {name: digest(run_dir / "export" / name) for name in ("model.pt2", "weights.pt", "model.json")}
    real = atomic.write_atomic

    def disk_full(path, write, mode="w"):
        def some_then_fail(f):
            f.write(b"the first bytes")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        return real(path, some_then_fail, mode)

    monkeypatch.setattr(atomic, "write_atomic", disk_full)
    with pytest.raises(SystemExit) as exited:
        run_command("export", [f"run={run_dir}"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("Error:") == 1 and "the disk is full" in err and "model.pt2" in err
    assert {name: digest(run_dir / "export" / name) for name in before} == before
    assert not [p for p in (run_dir / "export").iterdir() if p.name.startswith(".")]  # no temporary file left


# Runs are never overwritten or spliced -------------------------------------------------------------------------

def test_a_fresh_run_into_a_finished_runs_directory_is_refused_and_offers_resume(trained_runs, run_cli, tmp_path,
                                                                                dataset_dirs, fakes):
    run_dir = copy_run(trained_runs, tmp_path)
    before = {p.name: digest(p) for p in [*(run_dir / "checkpoints").iterdir(), run_dir / "metrics.csv",
                                          run_dir / ".hydra" / "overrides.yaml"]}
    proc = run_cli(tmp_path / "cwd", *fakes.tiny, f"dataset.path={dataset_dirs['idx']}", f"hydra.run.dir={run_dir}")
    one_line_refusal(proc, "already holds a run", f"minitrain resume={run_dir}")
    after = {p.name: digest(p) for p in [*(run_dir / "checkpoints").iterdir(), run_dir / "metrics.csv",
                                         run_dir / ".hydra" / "overrides.yaml"]}
    assert after == before


def test_a_sweep_into_a_sweep_directory_that_holds_jobs_is_refused(run_cli, tmp_path, dataset_dirs, fakes):
    sweep = tmp_path / "sweep"
    (sweep / "0" / "checkpoints").mkdir(parents=True)
    (sweep / "0" / "summary.json").write_text('{"status": "completed"}')
    proc = run_cli(tmp_path / "cwd", "-m", *fakes.tiny, f"dataset.path={dataset_dirs['idx']}", "seed=1,2",
                   f"hydra.sweep.dir={sweep}")
    one_line_refusal(proc, "already holds an earlier sweep's jobs")
    assert sorted(p.name for p in sweep.iterdir()) == ["0"]


def test_a_callback_that_ends_the_fit_in_after_epoch_still_gets_that_epoch_recorded_everywhere(tmp_path, caplog):
    import logging

    from minitrain.callbacks import CheckpointCallback, CSVLoggerCallback, MetricsCallback, SummaryCallback
    from minitrain.learner import Callback, CancelFitException

    class StopAtEpoch(Callback):  # docs/python-api.md's StopAtAccuracy, by epoch
        def after_epoch(self, learn):
            if not learn.training and learn.epoch + 1 == 2:
                raise CancelFitException()

    with caplog.at_level(logging.INFO):
        learn = toy_fit(MetricsCallback(), StopAtEpoch(), CSVLoggerCallback(), CheckpointCallback(),
                        SummaryCallback("toy", "linear"), epochs=5, run_dir=tmp_path)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()[1:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert len(learn.history) == len(rows) == summary["epochs_completed"] == last["epoch"] == 2
    assert summary["final"]["epoch"] == 2 and summary["stopped_by"] == "StopAtEpoch"
    assert "StopAtEpoch ended the fit after epoch 2 of 5" in caplog.text


# Right answers or a refusal ------------------------------------------------------------------------------------

NUMBER_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]  # not alphabetical


@pytest.fixture(scope="module")
def named_run(tmp_path_factory, run_cli_many, fake_data, fakes):
    """A classifier trained on a parquet copy whose classes are named zero..nine, and two more copies of the
    same images: a folder of class folders (alphabetical: another numbering) and a parquet with other names."""
    base = tmp_path_factory.mktemp("named")
    parquet = fakes.write_parquet(base / "parquet", fake_data, names=NUMBER_NAMES)
    folder = fakes.write_folder(base / "folder", fake_data, names=NUMBER_NAMES)
    renamed = fakes.write_parquet(base / "renamed", fake_data, names=[f"class{k}" for k in range(10)])
    run = run_cli_many({"train": (base / "cwd", [*fakes.tiny, "trainer.epochs=2", "optimizer.lr=0.001",
                                                 f"dataset.path={parquet}", f"hydra.run.dir={base / 'run'}"], {})})
    assert run["train"].returncode == 0, run["train"].stderr[-2000:]
    return base / "run", {"parquet": parquet, "folder": folder, "renamed": renamed}


def test_eval_on_a_copy_that_numbers_the_classes_otherwise_matches_them_by_name(named_run, run_cli, tmp_path):
    run_dir, copies = named_run
    reports = {}
    for name in ("parquet", "folder"):
        proc = run_cli(tmp_path / name, "eval", f"run={run_dir}", f"dataset.path={copies[name]}",
                       f"out={tmp_path / name / 'out'}")
        assert proc.returncode == 0, proc.stderr[-2000:]
        reports[name] = json.loads((tmp_path / name / "out" / "eval.json").read_text())
    assert reports["folder"]["valid_accuracy"] == reports["parquet"]["valid_accuracy"] > 0.2
    assert reports["folder"]["confusion_matrix"]["counts"] == reports["parquet"]["confusion_matrix"]["counts"]


def test_eval_on_a_copy_with_other_class_names_is_refused(named_run, run_cli, tmp_path):
    run_dir, copies = named_run
    proc = run_cli(tmp_path, "eval", f"run={run_dir}", f"dataset.path={copies['renamed']}")
    one_line_refusal(proc, "has classes the run never learned", "class0")


def test_a_checkpoint_name_is_looked_up_in_the_run_before_the_current_folder(trained_runs, run_cli, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "last.pt").write_bytes(b"not a checkpoint")  # a stray file where eval starts
    proc = run_cli(cwd, "eval", f"run={trained_runs['classifier']}", "checkpoint=last.pt", f"out={tmp_path / 'out'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "eval.json").read_text())
    assert report["checkpoint"] == str(trained_runs["classifier"] / "checkpoints" / "last.pt")


# docs/inspect.md's export recipe, followed literally in a fresh interpreter without minitrain
RECIPE = """
import json, sys
sys.modules["minitrain"] = None
import numpy as np, torch
info = json.load(open(sys.argv[1] + "/model.json"))
pixels = np.load(sys.argv[2])
x = torch.as_tensor(pixels).float() / 255
norm = info["input"]["normalize"]
if norm:
    x = (x - torch.tensor(norm["mean"])[:, None, None]) / torch.tensor(norm["std"])[:, None, None]
program = torch.export.load(sys.argv[1] + "/model.pt2")
logits = program.module()(x)
weights = torch.load(sys.argv[1] + "/weights.pt", weights_only=True)  # runs no code
np.save(sys.argv[3], logits.argmax(dim=1).numpy())
print(sorted(weights) == sorted(program.state_dict), info["model"]["class"])
"""


def test_the_documented_export_recipe_scores_what_eval_scores(trained_runs, run_cli, tmp_path, fake_data):
    run_dir = trained_runs["classifier"]
    assert run_cli(tmp_path, "export", f"run={run_dir}", f"out={tmp_path / 'export'}").returncode == 0
    assert run_cli(tmp_path, "eval", f"run={run_dir}", f"out={tmp_path / 'eval'}").returncode == 0
    np.save(tmp_path / "pixels.npy", fake_data.test_images[:, None])  # N x 1 x 28 x 28 uint8, as stored
    done = subprocess.run([sys.executable, "-I", "-c", RECIPE, str(tmp_path / "export"), str(tmp_path / "pixels.npy"),
                           str(tmp_path / "preds.npy")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "minitrain.models.MLP"]
    accuracy = float((np.load(tmp_path / "preds.npy") == fake_data.test_labels).mean())
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert accuracy == pytest.approx(report["valid_accuracy"], abs=1 / len(fake_data.test_labels))


def test_exported_weights_rebuild_the_model_from_model_json_without_unpickling(trained_runs, run_cli, tmp_path):
    import minitrain.models

    assert run_cli(tmp_path, "export", f"run={trained_runs['classifier']}", f"out={tmp_path}/e").returncode == 0
    info = json.loads((tmp_path / "e" / "model.json").read_text())
    model = getattr(minitrain.models, info["model"]["class"].rsplit(".", 1)[1])(**info["model"]["arguments"])
    model.load_state_dict(torch.load(tmp_path / "e" / "weights.pt", weights_only=True))
    x = torch.rand(3, 1, 28, 28)
    expected = load_run(trained_runs["classifier"], device="cpu").model(x)
    assert torch.allclose(model.eval()(x), expected, atol=1e-6)


def test_a_large_photo_is_decoded_at_a_reduced_scale_for_predict(tmp_path):
    from PIL import Image

    from minitrain.inference import open_image

    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(tmp_path / "photo.jpg", quality=80)
    image = open_image(tmp_path / "photo.jpg")  # 12 megapixels, 36 MB decoded in full
    assert image.size == (2000, 1500) and image.getpixel((10, 10))[0] > 150


def test_eval_of_many_classes_writes_eval_json_and_leaves_out_the_confusion_matrix_figure(tmp_path):
    from minitrain.data.sources import Split
    from minitrain.evaluation import MATRIX_FIGURE_CLASSES, write_report

    n_classes, n = MATRIX_FIGURE_CLASSES + 150, 40
    labels = torch.arange(n) % n_classes
    logits = torch.randn(n, n_classes)
    classes = [f"c{k}" for k in range(n_classes)]
    report = {"task": "classification", "split": "valid", "epoch": 1, "valid_accuracy": 0.0,
              "confusion_matrix": {"classes": classes, "counts": [[0] * n_classes] * n_classes}, "_out": logits}
    write_report(tmp_path, report, None, Split(torch.zeros(n, 1, 8, 8, dtype=torch.uint8), labels), top=4)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["figures"] == ["top_losses.png"] and len(saved["confusion_matrix"]["classes"]) == n_classes
    assert not (tmp_path / "confusion_matrix.png").exists() and (tmp_path / "top_losses.png").is_file()
