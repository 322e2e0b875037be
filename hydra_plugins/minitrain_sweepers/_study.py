"""The study in its storage: where it lives (SQLite in the sweep directory unless told otherwise), made fresh or
continued (finished trials kept, interrupted ones queued again), how a trial's job ended, and the trial a job opens
to report to."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, NopPruner
from optuna.trial import FrozenTrial, TrialState

from minitrain import rundir
from minitrain.errors import ConfigError, OutputError
from minitrain.search import run_objective

log = logging.getLogger(__name__)
DB_FILE = "optuna.db"  # the study's SQLite file in the sweep directory (when hydra.sweeper.storage is null)
INTERRUPTED = "interrupted"  # the sweep directory's folder for the job folders of interrupted trials, once re-run
FAILED_BY_ITSELF = ("failed", "diverged")  # a job's own end: its trial counts as done, and is not re-run
PRUNERS = {
    "none": lambda p: NopPruner(),
    "median": lambda p: MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.min_epochs),
    "hyperband": lambda p: HyperbandPruner(min_resource=p.min_epochs, reduction_factor=p.reduction_factor),
}


def make_pruner(name: str, pruning: Any) -> BasePruner:
    """Optuna's pruner for hydra.sweeper.pruner=`name`, with the settings of hydra.sweeper.pruning."""
    if name not in PRUNERS:
        raise ConfigError(f"hydra.sweeper.pruner={name} is not a pruner: give {', '.join(PRUNERS)}.")
    return PRUNERS[name](pruning)


def storage_url(configured: str | None, sweep_dir: Path) -> str:
    """The study's storage: hydra.sweeper.storage, or a SQLite file in the sweep directory."""
    return configured or f"sqlite:///{(sweep_dir / DB_FILE).resolve()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database storage at `url`; on SQLite a writer waits up to a minute for the parallel jobs' lock."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine)


def open_study(url: str, name: str, pruner: BasePruner, direction: str, resume: bool, sweep_dir: Path) -> optuna.Study:
    """The study `name` at `url`: a new one, or with `resume` the one there (its sampler is the caller's to set);
    an OutputError refuses to mix a new search into a study already there, or to continue one that is not."""
    db = sweep_dir / DB_FILE
    where = str(db) if url == storage_url(None, sweep_dir) else url
    if resume and where == str(db) and not db.is_file():
        exists = False  # checking would create the file
    else:
        exists = name in optuna.study.get_all_study_names(open_storage(url))
    if exists and not resume:
        raise OutputError(f"{where} already holds the study '{name}'; a new search would mix its trials into it. "
                          "Continue it: the same command with hydra.sweeper.resume=true (and the same "
                          "hydra.sweep.dir), or give this search its own hydra.sweep.dir=DIR.")
    if resume and not exists:
        raise OutputError(f"hydra.sweeper.resume=true: {where} holds no study '{name}' to continue. Give the "
                          "hydra.sweep.dir of the search to continue, or drop hydra.sweeper.resume to start one.")
    study = optuna.create_study(storage=open_storage(url), study_name=name, pruner=pruner, direction=direction,
                                load_if_exists=resume)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"The study '{name}' in {where} was started to {study.direction.name.lower()}; "
                          f"hydra.sweeper.direction={direction} cannot continue it.")
    return study


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards n_trials: it completed, was pruned, or its job failed by itself."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("status") in FAILED_BY_ITSELF


def rerun_interrupted(study: optuna.Study, sweep_dir: Path) -> list[int]:
    """Continue a study: tell it how the jobs a killed sweep left running ended, queue every interrupted trial
    again (once) with its values, and move its job folder into interrupted/ so that sweep.csv lists each trial
    once. The sweep directory's lock (minitrain.rundir.lock) means no live sweep still runs those jobs."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        job = trial.user_attrs.get("job")
        tell(study, optuna.trial.Trial(study, trial._trial_id),
             rundir.job_dir(sweep_dir, job) if job is not None else None)
    trials = study.get_trials(deepcopy=False)
    queued = {t.user_attrs.get("rerun_of") for t in trials}
    again = [t for t in trials if t.state == TrialState.FAIL and not counted(t) and t.number not in queued]
    for trial in again:
        study.enqueue_trial(trial.params, user_attrs={"rerun_of": trial.number})
        if trial.user_attrs.get("job") is not None:
            move_aside(rundir.job_dir(sweep_dir, trial.user_attrs["job"]), sweep_dir / INTERRUPTED)
    return [t.number for t in again]


def move_aside(folder: Path, into: Path) -> None:
    """Move a job folder into `into` (named as it was, or with a suffix), when it exists."""
    if not folder.is_dir():
        return
    into.mkdir(exist_ok=True)
    target, n = into / folder.name, 0
    while target.exists():
        n += 1
        target = into / f"{folder.name}_{n}"
    folder.rename(target)
    log.info("Moved the job folder of an interrupted trial to %s; its trial runs again", target)


def next_job(study: optuna.Study, sweep_dir: Path) -> int:
    """The first job number no trial and no folder of the sweep directory has yet."""
    jobs = [t.user_attrs.get("job", -1) for t in study.get_trials(deepcopy=False)]
    folders = [int(p.name) for p in sweep_dir.iterdir() if p.name.isdigit()] if sweep_dir.is_dir() else []
    return max([-1, *jobs, *folders]) + 1


def tell(study: optuna.Study, trial: optuna.trial.Trial, job_dir: Path | None) -> str:
    """Tell the study how the trial's job ended, as its run directory's summary.json says: completed (with the
    value the job returns), pruned, failed by itself, or interrupted (no status of its own: re-run on resume).
    Returns that status, which the trial keeps as its user attribute `status`."""
    summary = (rundir.read_summary(job_dir) if job_dir is not None else None) or {}
    status = str(summary.get("status") or INTERRUPTED)
    if status not in ("completed", "pruned", *FAILED_BY_ITSELF):
        status = INTERRUPTED
    value = run_objective(job_dir) if status == "completed" else math.nan
    state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED}.get(status, TrialState.FAIL)
    if state == TrialState.COMPLETE and not math.isfinite(value):
        status, state = "failed", TrialState.FAIL  # completed without the metric it optimises (lr_find=true)
    trial.set_user_attr("status", status)
    try:
        study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    except RuntimeError as e:  # the grid sampler stops the study when its grid is done: fine outside optimize()
        if "Study.stop" not in str(e):
            raise
    return status


def open_trial(storage: str, study_name: str, number: int, pruner: str, pruning: Any) -> optuna.trial.Trial:
    """The running trial `number` of the study, opened by its job to report each epoch and ask whether to stop
    (the study carries the search's pruner, which decides)."""
    store = open_storage(storage)
    study = optuna.load_study(study_name=study_name, storage=store, pruner=make_pruner(pruner, pruning))
    trial_id = store.get_trial_id_from_study_id_trial_number(store.get_study_id_from_name(study_name), number)
    return optuna.trial.Trial(study, trial_id)
