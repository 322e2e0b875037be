"""`minitrain export run=DIR`: a torch.export program that a fresh interpreter runs without minitrain."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

# Runs in a fresh interpreter where importing minitrain fails, so the program cannot lean on it.
LOAD_AND_RUN = """
import sys
sys.modules["minitrain"] = None
import torch
program = torch.export.load(sys.argv[1])
torch.save(program.module()(torch.load(sys.argv[2])), sys.argv[3])
"""


@pytest.mark.parametrize("name", ["classifier", "autoencoder"])
def test_the_exported_program_runs_without_minitrain_and_matches_the_model(trained_runs, run_cli, tmp_path, name):
    from minitrain import load_run

    proc = run_cli(tmp_path, "export", f"run={trained_runs[name]}", f"out={tmp_path / 'export'}")
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "export") in proc.stdout
    info = json.loads((tmp_path / "export" / "model.json").read_text())
    assert info["input"]["shape"] == ["N", 1, 28, 28]
    run = load_run(trained_runs[name], device="cpu")
    images = torch.rand(5, 1, 28, 28)  # a batch size the export never saw
    torch.save(images, tmp_path / "in.pt")
    subprocess.run([sys.executable, "-I", "-c", LOAD_AND_RUN, str(tmp_path / "export" / "model.pt2"),
                    str(tmp_path / "in.pt"), str(tmp_path / "out.pt")], check=True, cwd=tmp_path)
    exported = torch.load(tmp_path / "out.pt", weights_only=True)
    assert torch.allclose(exported, run.forward(images), atol=1e-5)


def test_export_of_a_folder_that_is_not_a_run_exits_2(run_cli, tmp_path):
    proc = run_cli(tmp_path, "export", f"run={tmp_path}")
    assert proc.returncode == 2 and "not a minitrain run" in proc.stderr
