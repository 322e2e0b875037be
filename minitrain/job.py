"""One Hydra job: train, and turn what can go wrong into a clear message, an exit code and a status on disk."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig

from minitrain.atomic import write_json
from minitrain.errors import ConfigError, DataError, Exit, MinitrainError, print_error
from minitrain.interrupts import Terminated, graceful_interrupts
from minitrain.rundir import (SUMMARY, checkpoint_path, discard_unused, holds_epochs, read_summary, resume_command,
                              untouched)
from minitrain.threads import share_cores
from minitrain.train import train

log = logging.getLogger("minitrain")
file_log = logging.getLogger("minitrain.file")


def run_job(cfg: DictConfig) -> dict:
    """Train one job in its Hydra run directory; return its summary.

    A single run that fails exits non-zero with a one-paragraph message. In a multirun the failure
    is recorded in the job's summary.json and the sweep goes on with the next job.
    """
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    if in_sweep:  # hydra/launcher=joblib runs n_jobs of a sweep's jobs at once; a single run has every core
        share_cores(hydra_cfg.launcher.get("n_jobs"))
    try:
        with graceful_interrupts():
            train(cfg, run_dir, trial=search_trial(hydra_cfg) if in_sweep else None)
    except KeyboardInterrupt as e:
        from rich.console import Console
        from rich.text import Text

        if checkpoint_path(run_dir).is_file():
            done = (read_summary(run_dir) or {}).get("epochs_completed", 0)
            said = (f"after {done} complete epoch(s); metrics and the last checkpoint are saved.\n"
                    f"Resume with: {resume_command(run_dir)}")
        elif not in_sweep and untouched(run_dir) and discard_unused(run_dir):
            said = f"before training began; nothing was written ({run_dir} is removed). Start the run again."
        else:
            said = "before the first epoch ended: there is no checkpoint to resume from yet. Start the run again."
        Console(stderr=True, highlight=False).print(Text.assemble(("Interrupted", "bold yellow"), " ", said),
                                                    soft_wrap=True)
        file_log.warning("Interrupted %s", " ".join(said.split()))
        raise Exit(143 if isinstance(e, Terminated) else 130) from None
    except MinitrainError as e:
        return _failed(run_dir, e, in_sweep, exit_code=e.exit_code, resumed=bool(cfg.resume))
    except Exception as e:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if not in_sweep:  # a bug, not a user error: its traceback, as Hydra would show it, and exit 1
            traceback.print_exc()
            print("Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace.", file=sys.stderr)
            raise Exit(1) from None
        log.exception("Job %s failed", hydra_cfg.job.num)
        return _failed(run_dir, e, in_sweep, exit_code=1, resumed=bool(cfg.resume))
    log.info("Run directory: %s", run_dir)
    return read_summary(run_dir) or {}


def search_trial(hydra_cfg: DictConfig) -> Any:
    """The trial this job reports to when a hyper-parameter search launched it, or None: hydra/sweeper=optuna sets
    hydra.sweeper.trial in each job's config, a node whose `_target_` opens the trial (the sweeper's own code)."""
    node = hydra_cfg.sweeper.get("trial")
    return instantiate(node) if node is not None else None


def _failed(run_dir: Path, error: BaseException, in_sweep: bool, exit_code: int, resumed: bool = False) -> dict:
    """Report a failure; keep any summary the Learner already wrote, which says more.

    A single run refused before it trained writes no summary, and takes its run directory away again if it made it
    (rundir.discard_unused). A resumed run that fails before its fit begins keeps the
    summary of the run it was to continue: the failure changed nothing there, and the run can still be resumed
    once the problem is fixed."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    message = str(error) if isinstance(error, MinitrainError) else f"{type(error).__name__}: {error}"
    if not in_sweep and refused_before_training(run_dir, error):  # no folder marked failed is left behind
        file_log.error(message)
        print_error(message)
        discard_unused(run_dir)
        raise Exit(exit_code)
    summary = read_summary(run_dir) or {}
    if summary.get("status") in (None, "completed") and not resumed:
        summary = {**summary, "status": "failed", "error": message}
        write_json(run_dir / SUMMARY, summary)
    file_log.error(message)
    print_error(message)
    if not in_sweep:
        raise Exit(exit_code)
    return summary


def refused_before_training(run_dir: Path, error: BaseException) -> bool:
    """Whether a failed run trained nothing: it stopped before its fit wrote anything (data that cannot be read, a
    model that cannot be built), or its config or data was refused as the fit began, before an epoch ended."""
    return untouched(run_dir) or (isinstance(error, (ConfigError, DataError)) and not holds_epochs(run_dir))
