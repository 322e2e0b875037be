"""One Hydra job: train, and turn what can go wrong into a clear message, an exit code and a status on disk."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from minitrain.errors import MinitrainError, print_error
from minitrain.reports.files import write_json

log = logging.getLogger("minitrain")
file_log = logging.getLogger("minitrain.file")


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finish cleanly, then exit 143."""


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """The first SIGINT/SIGTERM unwinds training cleanly; a second one exits at once."""

    def exit_now(signum, frame):
        os._exit(128 + signum)

    def first(signum, frame):
        signal.signal(signal.SIGINT, exit_now)
        signal.signal(signal.SIGTERM, exit_now)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (e.g. a launcher running jobs in threads)
        return
    previous = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_job(cfg: DictConfig) -> dict:
    """Train one job in its Hydra run directory; return its summary.

    A single run that fails exits non-zero with a one-paragraph message. In a multirun the failure
    is recorded in the job's summary.json and the sweep goes on with the next job.
    """
    from minitrain.train import train  # torch is imported only once a job really runs

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        with graceful_interrupts():
            train(cfg, run_dir)
    except KeyboardInterrupt as e:
        from rich.console import Console

        code = 143 if isinstance(e, Terminated) else 130
        done = (_read_summary(run_dir) or {}).get("epochs_completed", 0)
        Console(stderr=True, highlight=False).print(
            f"[bold yellow]Interrupted[/] after {done} complete epoch(s); metrics and the last checkpoint are saved.\n"
            f"Resume with: minitrain resume={run_dir}",
            soft_wrap=True,
        )
        file_log.warning("Interrupted; resume with: minitrain resume=%s", run_dir)
        sys.exit(code)
    except MinitrainError as e:
        return _failed(run_dir, e, in_sweep, exit_code=e.exit_code)
    except Exception as e:
        if not in_sweep or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise  # a bug, not a user error: Hydra shows the traceback
        log.exception("Job %s failed", hydra_cfg.job.num)
        return _failed(run_dir, e, in_sweep, exit_code=1)
    log.info("Run directory: %s", run_dir)
    return _read_summary(run_dir) or {}


def _failed(run_dir: Path, error: BaseException, in_sweep: bool, exit_code: int) -> dict:
    """Report a failure; keep any summary the Learner already wrote, which says more."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    message = str(error) if isinstance(error, MinitrainError) else f"{type(error).__name__}: {error}"
    summary = _read_summary(run_dir) or {}
    if summary.get("status") in (None, "completed"):
        summary = {**summary, "status": "failed", "error": message}
        write_json(run_dir / "summary.json", summary)
    file_log.error(message)
    print_error(message)
    if not in_sweep:
        sys.exit(exit_code)
    return summary


def _read_summary(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None
