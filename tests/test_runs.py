"""Reading a run back (minitrain.checkpoint, minitrain.rundir): self-describing checkpoints and their checks; resume= on
a finished run."""

from __future__ import annotations

import json

import pytest
import torch

import minitrain
from minitrain.checkpoint import FORMAT
from minitrain.checkpoint import read_described as read_checkpoint
from minitrain.errors import CheckpointError, RunError
from minitrain.rundir import checkpoint_file, find_run


@pytest.mark.parametrize("which", ["last", "best"])
def test_checkpoints_describe_their_config_classes_input_and_versions_as_plain_data(trained_runs, fakes, which):
    state = torch.load(trained_runs["classifier"] / "checkpoints" / f"{which}.pt", weights_only=True)
    info = state["describe"]
    assert info["format"] == FORMAT
    assert info["minitrain"] == minitrain.__version__ and info["torch"] == str(torch.__version__)
    assert info["classes"] == fakes.fashion_names  # IDX copies take the config's names
    assert info["task"] == "classification"
    assert info["input"]["stored_shape"] == [1, 28, 28]  # C x H x W, as the decoded splits store images
    assert (info["input"]["channels"], info["input"]["height"], info["input"]["width"]) == (1, 28, 28)
    mean, std = info["input"]["normalize"]["mean"], info["input"]["normalize"]["std"]  # the training split's
    assert len(mean) == len(std) == 1 and 0 < mean[0] < 1 and 0 < std[0] < 1
    config = info["config"]
    assert config["model"]["_target_"] == "minitrain.models.MLP" and config["trainer"]["epochs"] == 2
    assert config["callbacks"]["summary"]["model"] == "mlp"  # resolved inside the Hydra job
    assert config["dataset"]["path"].startswith("/")  # absolute, so eval works from any folder


def test_a_checkpoint_without_a_description_is_refused_as_from_an_older_minitrain(tmp_path):
    torch.save({"model": {}, "epoch": 1}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="older minitrain"):
        read_checkpoint(tmp_path / "old.pt")


def test_a_checkpoint_in_a_newer_format_is_refused_with_the_upgrade_to_make(tmp_path):
    torch.save({"model": {}, "describe": {"format": FORMAT + 1, "config": {"a": 1}, "minitrain": "9.0"}}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="Upgrade minitrain"):
        read_checkpoint(tmp_path / "new.pt")


def test_a_checkpoint_that_needs_unpickling_is_refused_without_running_it(tmp_path):
    torch.save({"describe": {"format": 1, "config": {"a": 1}}, "obj": RunError("x")}, tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="cannot be read as plain data"):
        read_checkpoint(tmp_path / "pickled.pt")


def test_a_folder_without_checkpoints_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="not a minitrain run"):
        find_run(tmp_path)
    with pytest.raises(RunError, match="does not exist"):
        find_run(tmp_path / "nowhere")


def test_a_missing_checkpoint_names_the_ones_there(trained_runs, tmp_path):
    with pytest.raises(RunError, match=r"holds: best\.pt, last\.pt"):
        checkpoint_file(trained_runs["classifier"], str(tmp_path / "epoch_9.pt"))


def test_resume_of_a_completed_run_says_so_and_touches_nothing(trained_runs, run_cli, fakes, tmp_path):
    run_dir = trained_runs["classifier"]
    state = lambda: {k: v for k, v in fakes.tree_state(run_dir).items() if k != ".minitrain.lock"}  # noqa: E731
    before = state()  # every file but the lock, which each start that claims the folder rewrites
    proc = run_cli(tmp_path, f"resume={run_dir}")
    assert proc.returncode == 0, proc.stderr
    assert f"{run_dir} already completed its 2 epoch" in proc.stdout
    assert f"minitrain resume={run_dir} trainer.epochs=7" in proc.stdout  # how to train longer
    assert state() == before
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"

