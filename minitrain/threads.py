"""How many CPU threads one job's torch may use: every core when it trains alone, an equal share when a launcher
runs several of a sweep's jobs at once (hydra/launcher=joblib hydra.launcher.n_jobs=K), so that parallel jobs do
not fight over the cores.

joblib's workers already get OMP_NUM_THREADS and MKL_NUM_THREADS set to cores // K (or to the parent's own values),
but torch obeys MKL_NUM_THREADS over OMP_NUM_THREADS: a user's OMP_NUM_THREADS=3 alone would give each job
joblib's MKL_NUM_THREADS instead. So each job sets torch's threads itself, from OMP_NUM_THREADS where it is set."""

from __future__ import annotations

import os

THREADS_VARIABLE = "OMP_NUM_THREADS"  # threads per job: the user's choice, or joblib's share in its workers


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parallel_jobs(n_jobs: int | None, cores: int) -> int:
    """How many jobs run at once for a launcher's `n_jobs`, read as joblib reads it (-1: one per core, -2: all
    cores but one, ...); None or 0 (a launcher without the setting) means one at a time."""
    if not n_jobs:
        return 1
    return n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)


def threads_per_job(n_jobs: int | None, cores: int, environ: dict[str, str]) -> int | None:
    """The intra-op threads each of `n_jobs` parallel jobs should use: OMP_NUM_THREADS where it holds a number,
    else an equal share of the cores (at least one). None, to leave torch's default, when the jobs run one at a
    time."""
    jobs = parallel_jobs(n_jobs, cores)
    if jobs == 1:
        return None
    chosen = environ.get(THREADS_VARIABLE, "").strip()
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    return max(1, cores // jobs)


def share_cores(n_jobs: int | None) -> None:
    """Give this sweep job its share of the cores, for a launcher running `n_jobs` at once (see threads_per_job)."""
    threads = threads_per_job(n_jobs, available_cores(), dict(os.environ))
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
