"""Multirun: one numbered directory per job, and a sweep report (sweep.csv, sweep.png) comparing them."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """Three sweeps over the learning rate, side by side: one that succeeds, one whose first job is invalid,
    one whose every job is."""
    base = tmp_path_factory.mktemp("sweeps")
    data = f"dataset.path={dataset_dirs['idx']}"
    jobs = {}
    for name, lrs in (("good", "0.05,0.1"), ("one_bad", "-1,0.1"), ("all_bad", "-1,-2")):
        sweep_dir = base / name / "sweep"
        jobs[name] = (base / name, ["-m", f"optimizer.lr={lrs}", *fakes.tiny, data, f"hydra.sweep.dir={sweep_dir}"], {})
    done = run_cli_many(jobs)
    return {name: (base / name / "sweep", proc) for name, proc in done.items()}


def test_a_sweep_runs_every_job_in_its_own_numbered_directory(sweeps, fakes):
    sweep_dir, proc = sweeps["good"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job in ("0", "1"):
        _, rows = fakes.read_csv(sweep_dir / job / "metrics.csv")
        assert len(rows) == 1
        assert json.loads((sweep_dir / job / "summary.json").read_text())["status"] == "completed"
    assert not (sweep_dir / "2").exists()


def test_a_sweep_writes_one_report_row_per_job_with_the_swept_value_and_its_result(sweeps, fakes):
    sweep_dir, _ = sweeps["good"]
    header, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert {"job", "optimizer.lr", "status", "valid_accuracy"} <= set(header)
    assert [(r["job"], r["optimizer.lr"], r["status"]) for r in rows] == [("0", "0.05", "completed"),
                                                                         ("1", "0.1", "completed")]
    for row in rows:
        assert 0.0 <= float(row["valid_accuracy"]) <= 1.0
        _, job_rows = fakes.read_csv(sweep_dir / row["job"] / "metrics.csv")
        assert float(row["valid_accuracy"]) == pytest.approx(float(job_rows[-1]["valid_accuracy"]))


def test_a_sweep_plots_the_result_against_the_swept_value(sweeps, fakes):
    sweep_dir, _ = sweeps["good"]
    assert fakes.is_png(sweep_dir / "sweep.png")


def test_a_failed_job_does_not_stop_the_sweep_and_the_report_says_which_failed(sweeps, fakes):
    sweep_dir, proc = sweeps["one_bad"]
    assert proc.returncode == 1
    assert "1 of 2 jobs did not complete" in proc.stderr
    assert "Traceback" not in proc.stderr
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [(r["optimizer.lr"], r["status"]) for r in rows] == [("-1", "failed"), ("0.1", "completed")]
    assert "optimizer.lr" in rows[0]["error"]
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["status"] == "completed"
    failed = json.loads((sweep_dir / "0" / "summary.json").read_text())
    assert failed["status"] == "failed" and "optimizer.lr" in failed["error"]


def test_a_sweep_where_no_job_finished_writes_its_report_but_no_plot_and_does_not_claim_one(sweeps, fakes):
    sweep_dir, proc = sweeps["all_bad"]
    assert proc.returncode == 1
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert not (sweep_dir / "sweep.png").exists()
    said = " ".join(proc.stdout.split())
    assert f"Wrote {sweep_dir / 'sweep.csv'}" in said and "sweep.png" not in said
