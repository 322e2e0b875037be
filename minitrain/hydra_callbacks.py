"""Hydra callbacks: claim the run (or sweep) directory before anything runs, check a resume before it touches the
run, report a sweep after it. configs/config.yaml lists them under `hydra.callbacks`."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from minitrain import distributed, rundir
from minitrain.atomic import remove_stale_temp_files
from minitrain.errors import Exit, MinitrainError, ResumeError, fail


def check_writable(path: Path, key: str) -> None:
    """Exit with a clear message unless `path` can be created and written."""
    try:
        rundir.make_dirs(path)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        fail(
            f"Cannot write the output directory {path} ({e.strerror or e}). "
            f"Choose a writable place with {key}=DIR, or fix the permissions of {path}."
        )


class ClaimRunDir(Callback):
    """Before any work: give the run (or sweep) a directory of its own, writable, locked while it lives, and
    holding no earlier run (or sweep) that a fresh one would overwrite."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not distributed.current().is_main:  # other ranks write nothing (minitrain.distributed.worker_argv)
            return
        if not config.get("resume"):  # a resume is checked by CheckResume, in the run's own directory
            _or_fail(check_fresh, job_config(config))  # a config refused here leaves no run directory
        run_dir = claim(config, "run")
        _or_fail(rundir.check_no_links, run_dir, (rundir.LOG,))
        if not config.get("resume"):
            _or_fail(rundir.refuse_earlier_run, run_dir)
        for folder in (run_dir, run_dir / rundir.CHECKPOINTS):
            remove_stale_temp_files(folder)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        # hydra.sweeper.resume=true (hydra/sweeper=optuna): the sweeper continues the sweep there, or says there is none
        resuming = bool(config.hydra.sweeper.get("resume"))
        if not resuming and "${now:" not in _raw_dir(config.hydra.sweep):  # a time-stamped default is fresh
            _or_fail(rundir.refuse_earlier_sweep, sweep_dir, "resume" in config.hydra.sweeper)
        claim(config, "sweep")


class CheckResume(Callback):
    """For `resume=DIR`: refuse, before anything in DIR changes, a resumed config that cannot continue the run
    exactly (bad values, no checkpoint callback, another model or optimizer, an unreadable checkpoint, missing
    data), and end at once, exit 0, when the run has already trained `trainer.epochs` epochs.

    The checkpoint's own config carries the data's shape, so nothing is decoded and no model is built here;
    the checkpoint callback restores the state once training starts."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.get("resume"):
            return
        try:
            done = check_resume(job_config(config))
        except MinitrainError as e:
            fail(str(e), e.exit_code)
        if done:
            print(done)
            raise Exit(0)


def check_fresh(cfg: DictConfig) -> None:
    """A ConfigError (or DataError) when a new run's config cannot train or names data that is not there: said
    before the run directory exists."""
    from minitrain.checks import check_config
    from minitrain.data import find_source

    check_config(cfg)
    find_source(cfg.dataset)


def check_resume(cfg: DictConfig) -> str | None:
    """A ResumeError (or CheckpointError) when `cfg` cannot continue its run; the message to print when the run
    already trained every epoch asked for; None when the resume can go ahead."""
    from hydra.utils import get_class

    from minitrain import checkpoint
    from minitrain.checks import check_config
    from minitrain.data import find_source

    run_dir = Path(cfg.resume)
    check_config(cfg)
    if not cfg.callbacks.get("checkpoint"):
        raise ResumeError(f"resume={run_dir} restores the run through its checkpoint callback: "
                          "drop ~callbacks.checkpoint (or start a new run instead of resuming).")
    state = checkpoint.read(rundir.checkpoint_path(run_dir))
    saved = (state.get("describe") or {}).get("config")
    if isinstance(saved, dict) and (changed := model_change(cfg, saved)):
        raise ResumeError(f"resume={run_dir}: the checkpoint's model does not fit the configured model ({changed}). "
                          "Resume with the model the run was started with (drop the model override).")
    wanted, trained_with = checkpoint.qualified_name(get_class(cfg.optimizer._target_)), state.get("optimizer_class")
    if trained_with is not None and trained_with != wanted:
        raise ResumeError(f"resume={run_dir}: the run was trained with {trained_with}, not {wanted}; its optimizer "
                          "state cannot be carried over. Resume with the optimizer the run was started with.")
    done, planned = state["epoch"], cfg.trainer.epochs
    if done > planned:
        raise ResumeError(f"resume={run_dir}: the run has already trained {done} epochs, more than "
                          f"trainer.epochs={planned}. Give trainer.epochs above {done} to train longer.")
    find_source(cfg.dataset)  # a local dataset.path that is missing or not a dataset is named here, not mid-run
    if done == planned:
        return (f"{run_dir} already completed its {done} epoch(s); nothing was changed. To train longer, give more "
                f"epochs: {rundir.resume_command(run_dir)} trainer.epochs={done + 5}")
    return None


def model_change(cfg: DictConfig, saved: dict) -> str:
    """'' when the model `cfg` configures is the one the checkpoint's config describes; else the keys that differ.

    The dataset keys the data filled in (channels, image_size, num_classes) are taken from the checkpoint's config."""
    shaped = copy.deepcopy(cfg)
    with read_write(shaped), open_dict(shaped):
        for key, value in (saved.get("dataset") or {}).items():
            if key in shaped.dataset and shaped.dataset[key] is None:
                shaped.dataset[key] = value
    now = OmegaConf.to_container(shaped.model, resolve=True, enum_to_str=True)
    before = saved.get("model") or {}
    keys = [k for k in dict.fromkeys([*before, *now]) if before.get(k) != now.get(k)]
    return "; ".join(f"model.{k} is {before.get(k)!r} in the checkpoint, {now.get(k)!r} here" for k in keys[:3])


def job_config(cfg: DictConfig) -> DictConfig:
    """The job's config without Hydra's own node, as Hydra hands it to the job (a Hydra callback sees both)."""
    job = copy.deepcopy(cfg)
    with read_write(job), open_dict(job):
        job.pop("hydra", None)
    return job


def _raw_dir(node: DictConfig) -> str:
    return str(OmegaConf.to_container(node, resolve=False)["dir"])


def claim(config: DictConfig, mode: str) -> Path:
    """The run (or sweep) directory, made this run's own: a time-stamped default that an earlier run already
    has gets a suffix (`12-00-00_1`), and the directory is locked, so a second live run into it stops."""
    key = f"hydra.{mode}.dir"
    node = config.hydra[mode]
    path = Path(node.dir)
    if "${now:" in _raw_dir(node):
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
        bad = [r for r in rows if r["status"] not in ("completed", "pruned")]  # a pruned trial ended as asked
        if bad:
            fail(f"{len(bad)} of {len(rows)} jobs did not complete; see {sweep_dir / 'sweep.csv'}.", exit_code=1)


def _print_table(rows: list[dict], sweep_dir: Path, written: list[Path]) -> None:
    """The jobs side by side: what was swept, how each ended, and its final metrics."""
    from rich.console import Console

    from minitrain.reports.sweep import sweep_table

    console = Console()
    console.print(f"Sweep: {sweep_dir}", soft_wrap=True)
    console.print(sweep_table(rows))
    console.print(f"Wrote {', '.join(map(str, written))}", soft_wrap=True)
