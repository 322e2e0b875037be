"""Integration on the real Fashion-MNIST: Debian's `dataset-fashion-mnist` package (the original IDX files),
which .ci/run installs. Without it these tests are skipped, saying so; every other test builds its own data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

SYSTEM_COPY = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(
    not (SYSTEM_COPY / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"real Fashion-MNIST is not installed at {SYSTEM_COPY} (apt-get install dataset-fashion-mnist)",
)


def test_the_system_copy_decodes_to_the_published_splits(compose_config, tmp_path):
    from minitrain.data import load_image_data

    cfg = compose_config(f"dataset.cache_dir={tmp_path}")
    data = load_image_data(cfg.dataset)
    assert data.train.images.shape == (60_000, 1, 28, 28) and data.valid.images.shape == (10_000, 1, 28, 28)
    assert data.train.images.dtype == torch.uint8
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
    assert torch.bincount(data.train.labels).tolist() == [6000] * 10
    assert torch.bincount(data.valid.labels).tolist() == [1000] * 10
    assert data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert 60 < data.train.images.float().mean() < 90  # the published mean pixel is about 72.9


def test_one_epoch_of_the_default_cnn_learns_the_real_data(run_cli, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(tmp_path, "trainer.epochs=1", "loader.batch_size=256", f"hydra.run.dir={run_dir}", timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["data_source"] == f"IDX files at {SYSTEM_COPY}"  # found without dataset.path
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert len(rows) == 1
    assert float(rows[0]["valid_accuracy"]) > 0.7  # chance is 0.1; this recipe reaches about 0.8 in one epoch
    for picture in ("samples.png", "predictions.png", "losses.png"):
        assert (run_dir / picture).read_bytes().startswith(b"\x89PNG")
