"""Run files as written to disk: CSV cells a spreadsheet would run as formulas are escaped, numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from minitrain.atomic import write_csv


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","click")', "+1+cmd|' /C calc'!A0", "-2+3",
                                  "@SUM(A1:A2)", "\t=1+1", "\r=1+1"])
def test_a_string_cell_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe(tmp_path, name):
    write_csv(tmp_path / "predictions.csv", [{"file": "a.png", "prediction": name}], ["file", "prediction"])
    with (tmp_path / "predictions.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row == {"file": "a.png", "prediction": "'" + name}


def test_numbers_and_numeric_strings_stay_numbers_so_metrics_csv_is_written_as_before(tmp_path):
    rows = [{"epoch": 1, "train_loss": -0.5, "valid_loss": 1e-05, "psnr": "-3.25", "lr": "+0.1", "note": "plain"},
            {"epoch": 2, "train_loss": float("nan"), "valid_loss": -1, "psnr": "12.00", "lr": None, "note": ""}]
    columns = list(rows[0])
    write_csv(tmp_path / "metrics.csv", rows, columns)
    expected = io.StringIO()
    plain = csv.DictWriter(expected, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    plain.writeheader()
    plain.writerows(rows)
    assert (tmp_path / "metrics.csv").read_text() == expected.getvalue()


def test_a_carriage_return_inside_a_cell_does_not_split_its_row(tmp_path):
    rows = [{"file": "a\rb.png", "mse": 0.5}, {"file": "c.png", "mse": 0.25}]
    write_csv(tmp_path / "predictions.csv", rows, ["file", "mse"])
    with (tmp_path / "predictions.csv").open(newline="") as f:
        assert list(csv.DictReader(f)) == [{"file": "a\rb.png", "mse": "0.5"}, {"file": "c.png", "mse": "0.25"}]
