"""The benchmark scripts still run against today's code (the numbers they measure on the tests' 300 fake images mean
nothing): speed.py on the tests' IDX copy, through every row but Lightning's (an extra) and the worker processes'."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO, cli_env


@pytest.mark.slow  # a subprocess that imports torch, datasets and Hydra, and trains five times
def test_speed_runs_its_rows_on_a_local_copy_and_both_minitrain_data_paths_agree(tmp_path, dataset_dirs):
    out = tmp_path / "speed.json"
    command = [sys.executable, str(REPO / "benchmarks" / "speed.py"), "--device", "cpu", "--data", str(dataset_dirs["idx"]),
               "--train-images", "256", "--valid-images", "64", "--batch-size", "32", "--epochs", "2",
               "--skip", "lessonN", "lightning", "--out", str(out)]
    done = subprocess.run(command, cwd=tmp_path, env=cli_env(tmp_path), capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert set(rows) == {"lesson0", "plain", "minitrain", "minitrain_other"}
    for row in rows.values():
        assert len(row["valid_accuracy_each"]) == 2 and row["images_per_s"] > 0
    # the DataLoader path and the in-memory path draw the same batches: the same accuracy after every epoch
    assert rows["minitrain"]["valid_accuracy_each"] == rows["minitrain_other"]["valid_accuracy_each"]
    assert report["prep_first_s"] > 0 and report["prep_cached_s"] > 0


def test_race_targets_are_read_as_fractions_or_percentages():
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location("time_to_accuracy", REPO / "benchmarks" / "time_to_accuracy.py")
    race = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec.loader.exec_module(race)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    assert race.accuracy("0.93") == pytest.approx(0.93)
    assert race.accuracy("93") == pytest.approx(0.93)  # `--targets 92 93` once printed "seconds to 9300%"
    assert race.accuracy("1") == 1.0
    for bad in ("0", "-5", "150"):
        with pytest.raises(argparse.ArgumentTypeError, match="not an accuracy"):
            race.accuracy(bad)
