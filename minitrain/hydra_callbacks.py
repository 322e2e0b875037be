"""Hydra callbacks: check the output directory before a run, report a sweep after it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from minitrain import distributed, rundir
from minitrain.errors import MinitrainError, fail
from minitrain.reports.files import remove_stale_temp_files


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
    """Before any work: give the run (or sweep) a directory of its own, writable, and locked while it lives;
    for `resume=DIR`, refuse a resumed config that cannot continue the run before DIR is touched.

    Hydra calls it as soon as the config has composed, so `composed` tells the CLI whether an error came
    from composing the config (bad input) or from the run."""

    composed = False

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        CheckOutputDir.composed = True
        if distributed.current().is_main:  # other ranks write nothing (minitrain.distributed.worker_argv)
            run_dir = claim(config, "run")
            _or_fail(rundir.check_no_links, run_dir, ("minitrain.log",))
            for folder in (run_dir, run_dir / "checkpoints"):
                remove_stale_temp_files(folder)
        if config.get("resume"):
            from minitrain.resume import AlreadyComplete, check_resume

            try:
                check_resume(config)
            except AlreadyComplete as e:
                print(e)
                raise SystemExit(0) from None
            except MinitrainError as e:
                fail(str(e), e.exit_code)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        CheckOutputDir.composed = True
        claim(config, "sweep")


def claim(config: DictConfig, mode: str) -> Path:
    """The run (or sweep) directory, made this run's own: a time-stamped default that an earlier run already
    has gets a suffix (`12-00-00_1`), and the directory is locked, so a second live run into it stops."""
    key = f"hydra.{mode}.dir"
    node = config.hydra[mode]
    path = Path(node.dir)
    if "${now:" in str(OmegaConf.to_container(node, resolve=False)["dir"]):
        check_writable(path.parent, key)
        fresh = _or_fail(rundir.claim_fresh, path)
        with read_write(node), open_dict(node):
            node.dir = str(fresh)
        path = fresh
    check_writable(path, key)
    _or_fail(rundir.lock, path)
    return path


def _or_fail(check, *args):
    try:
        return check(*args)
    except MinitrainError as e:
        fail(str(e), e.exit_code)


class SweepReport(Callback):
    """Write sweep.csv and sweep.png when a multirun ends, print a table, exit 1 if a job failed.

    `reached` tells the CLI that a multirun got to its end: an error before that is Hydra's (a job's overrides
    that do not compose), which is bad input."""

    reached = False

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        SweepReport.reached = True
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
