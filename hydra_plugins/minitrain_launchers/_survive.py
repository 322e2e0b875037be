"""`hydra/launcher=joblib` that outlives a killed worker: the sweep goes on, and the job that was killed is failed.

The launcher class is joblib_launcher.py beside this module (Hydra builds launchers only from
the `hydra_plugins` namespace); it calls `launch_surviving_killed_workers`.

Hydra's joblib launcher hands the jobs to one loky process pool. When a worker process dies (`kill -9`, the
out-of-memory killer), loky breaks the whole pool: Hydra's launcher raises TerminatedWorkerError, the other
running jobs are killed with it, and the sweep ends with a traceback and no sweep.csv. This launcher keeps
every job that had finished, runs the interrupted ones again one at a time (so that a worker that dies again
names its job), records a job whose worker died on its own as failed in its summary.json, and returns every
job to the sweeper, so that the sweep report is written.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher import _core
from joblib import Parallel, delayed
from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import BrokenProcessPool

from minitrain import rundir
from minitrain.atomic import write_json
from minitrain.search import run_objective

log = logging.getLogger(__name__)
# summary.json statuses a job ends with by itself (a job stopped because the pool broke says "interrupted")
FINISHED = ("completed", "pruned", "failed", "diverged")


SCHEMA_MATCHING = r"(?s).*validated against ConfigStore schema with the same name"


def quiet_execute_job(*args):
    """Hydra's job in a worker process, without the deprecation warning that configs/hydra/launcher/joblib.yaml
    raises there by replacing the plugin's config of that name on purpose (the CLI filters it in its own process)."""
    warnings.filterwarnings("ignore", message=SCHEMA_MATCHING)
    return _core.execute_job(*args)


def launch_surviving_killed_workers(launcher, job_overrides: Sequence[Sequence[str]],
                                   initial_job_idx: int) -> Sequence[JobReturn]:
    """Hydra's joblib launch (its options and log lines); when a worker dies, the jobs that had not finished run
    again one at a time."""
    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    options = launcher.joblib
    options["backend"] = "loky"  # as in Hydra's launcher: the threading backend is incompatible with Hydra
    _core.process_joblib_cfg(options)
    jobs = {initial_job_idx + i: list(overrides) for i, overrides in enumerate(job_overrides)}
    log.info("Joblib.Parallel(%s) is launching %d jobs", ",".join(f"{k}={v}" for k, v in options.items()), len(jobs))
    log.info("Launching jobs, sweep output dir : %s", sweep_dir)
    for num, overrides in jobs.items():
        log.info("\t#%d : %s", num, " ".join(filter_overrides(overrides)))
    state = _core.Singleton.get_state()
    arguments = {num: (num, overrides, launcher.hydra_context, launcher.config, launcher.task_function, state)
                 for num, overrides in jobs.items()}
    try:
        return Parallel(**options)(delayed(quiet_execute_job)(*args) for args in arguments.values())
    except BrokenProcessPool as e:  # loky's TerminatedWorkerError: a worker died, the pool with it
        log.warning("A worker process died (%s); the jobs it interrupted run again, one at a time",
                    " ".join(str(e).split())[:200])
    returns = {}
    for num, overrides in jobs.items():
        summary = rundir.read_summary(job_dir(launcher, num)) or {}
        if summary.get("status") not in FINISHED:
            try:  # in a pool of its own: if its worker dies again, the job is the one that kills it
                returns[num] = get_reusable_executor(max_workers=1).submit(quiet_execute_job, *arguments[num]).result()
                continue
            except BrokenProcessPool as e:
                record_killed(job_dir(launcher, num), e)
        returns[num] = finished(launcher, num, overrides)
    return [returns[num] for num in jobs]


def job_dir(launcher, num: int) -> Path:
    """Where job `num` runs: the sweep directory and minitrain's `hydra.sweep.subdir` (the job's number)."""
    return rundir.job_dir(Path(str(launcher.config.hydra.sweep.dir)), num)


def finished(launcher, num: int, overrides: list[str]) -> JobReturn:
    """A job that ended without returning to the launcher, returned as it would have returned: the number a search
    optimises, from its summary.json and its config (.hydra/config.yaml, written by this sweep)."""
    folder = job_dir(launcher, num)
    return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=run_objective(folder),
                     working_dir=str(folder),
                     task_name=str(launcher.config.hydra.job.name))


def record_killed(folder: Path, error: BaseException) -> None:
    """The job in `folder` failed because its worker process died: say so in its summary.json."""
    message = f"its worker process was killed ({' '.join(str(error).split())[:300]})"
    if rundir.checkpoint_path(folder).is_file():
        message += f"; continue it with: {rundir.resume_command(folder)}"
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / rundir.SUMMARY, {**(rundir.read_summary(folder) or {}), "status": "failed", "error": message})
    log.error("Job %s failed: %s", folder.name, message)
