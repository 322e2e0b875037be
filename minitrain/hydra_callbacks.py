"""Hydra callbacks: check the output directory before a run, report a sweep after it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from minitrain.errors import fail


def check_writable(path: Path, key: str) -> None:
    """Exit with a clear message unless `path` can be created and written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        fail(
            f"Cannot write the output directory {path} ({e.strerror or e}). "
            f"Choose a writable place with {key}=DIR, or fix the permissions of {path}."
        )


class CheckOutputDir(Callback):
    """Fail before any work if the run (or sweep) directory cannot be written.

    Hydra calls it as soon as the config has composed, so `composed` tells the CLI whether an error came
    from composing the config (bad input) or from the run."""

    composed = False

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        CheckOutputDir.composed = True
        check_writable(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        CheckOutputDir.composed = True
        check_writable(Path(config.hydra.sweep.dir), "hydra.sweep.dir")


class SweepReport(Callback):
    """Write sweep.csv and sweep.png when a multirun ends, print a table, exit 1 if a job failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from minitrain.reports.sweep import write_sweep_report

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows, written = write_sweep_report(sweep_dir)
        if not rows:  # no job got as far as its run directory; Hydra has already reported why
            return
        _print_table(rows, sweep_dir, written)
        bad = [r for r in rows if r["status"] != "completed"]
        if bad:
            fail(f"{len(bad)} of {len(rows)} jobs did not complete; see {sweep_dir / 'sweep.csv'}.", exit_code=1)


def _print_table(rows: list[dict], sweep_dir: Path, written: list[Path]) -> None:
    """The jobs side by side: what was swept, how each ended, and its final metrics."""
    from rich.console import Console
    from rich.table import Table

    from minitrain.reports.sweep import METRIC_COLUMNS, swept_columns

    metrics = [c for c in METRIC_COLUMNS if c not in ("epoch", "seconds") and any(c in r for r in rows)]
    columns = ["job", *swept_columns(rows), "status", *metrics]
    table = Table(title=f"Sweep: {sweep_dir}")
    for c in columns:
        table.add_column(c, justify="right", overflow="fold")
    for r in rows:
        table.add_row(*(f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns))
    console = Console()
    console.print(table)
    console.print(f"Wrote {' and '.join(map(str, written))}", soft_wrap=True)
