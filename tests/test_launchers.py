"""Hydra launchers: a sweep run by joblib (parallel processes) or submitit (local jobs; SLURM preset) gives the
same numbered job directories and sweep report as the default launcher."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import cli_env

PLUGINS = {"joblib": "hydra_plugins.hydra_joblib_launcher", "submitit_local": "hydra_plugins.hydra_submitit_launcher"}
EXTRA = "{} is not installed (pip install 'minitrain[scale]'); CI installs it"
LAUNCHER_ARGS = {"joblib": ["hydra.launcher.n_jobs=2"], "submitit_local": []}
LRS = ["0.01", "0.02"]


def installed(launcher: str) -> bool:
    try:
        return importlib.util.find_spec(PLUGINS[launcher]) is not None
    except ModuleNotFoundError:
        return False


def require(launcher: str) -> None:
    """Skip, saying why, when the launcher's Hydra plugin is not installed."""
    pytest.importorskip(PLUGINS[launcher], reason=EXTRA.format(PLUGINS[launcher]))


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """The same 2-job learning-rate sweep under each installed launcher, side by side: {launcher: (sweep_dir, proc)}."""
    base = tmp_path_factory.mktemp("launchers")
    jobs = {}
    for launcher, extra in LAUNCHER_ARGS.items():
        if not installed(launcher):
            continue
        sweep_dir = base / launcher / "sweep"
        args = ["-m", f"hydra/launcher={launcher}", *extra, f"optimizer.lr={','.join(LRS)}", *fakes.tiny,
                f"dataset.path={dataset_dirs['idx']}", f"hydra.sweep.dir={sweep_dir}"]
        jobs[launcher] = (base / launcher, args, {})
    done = run_cli_many(jobs) if jobs else {}
    return {launcher: (base / launcher / "sweep", proc) for launcher, proc in done.items()}


def check_sweep(sweeps, launcher: str, fakes):
    """Both jobs ran to completion in directories 0 and 1, and sweep.csv has a completed row for each."""
    sweep_dir, proc = sweeps[launcher]
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    assert "Traceback" not in proc.stderr
    for job, lr in zip(("0", "1"), LRS):
        header, rows = fakes.read_csv(sweep_dir / job / "metrics.csv")
        assert [r["epoch"] for r in rows] == ["1"] and "train_loss" in header
        assert json.loads((sweep_dir / job / "summary.json").read_text())["status"] == "completed"
        assert f"optimizer.lr={lr}" in (sweep_dir / job / ".hydra" / "overrides.yaml").read_text()
    assert not (sweep_dir / "2").exists()
    _, report = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [(r["job"], r["optimizer.lr"], r["status"]) for r in report] == [("0", "0.01", "completed"),
                                                                           ("1", "0.02", "completed")]
    assert fakes.is_png(sweep_dir / "sweep.png")
    return sweep_dir, proc


def test_a_joblib_sweep_runs_both_jobs_and_reports_them(sweeps, fakes):
    require("joblib")
    _, proc = check_sweep(sweeps, "joblib", fakes)
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr  # the joblib launcher really ran the jobs


@pytest.fixture(scope="module")
def thread_runs(tmp_path_factory, dataset_dirs, fakes, run_cli_many):
    """Runs under hydra/launcher=joblib, side by side: {name: (folder with the jobs' summary.json, env)}.

    - "shared": a 2-job sweep (n_jobs=2) with MKL_NUM_THREADS at every core and no OMP_NUM_THREADS: joblib's
      workers get OMP_NUM_THREADS = cores // 2 but keep the parent's MKL_NUM_THREADS, which torch would obey;
    - "user": the same sweep with the user's OMP_NUM_THREADS=3 (joblib's workers get MKL_NUM_THREADS = cores // 2);
    - "single": one run (no -m) whose config names the joblib launcher: it is no sweep, so it keeps every core.
    """
    from minitrain.threads import available_cores

    require("joblib")
    base = tmp_path_factory.mktemp("threads")
    common = [*fakes.tiny, f"dataset.path={dataset_dirs['idx']}", "hydra/launcher=joblib"]
    sweep = ["-m", "hydra.launcher.n_jobs=2", "optimizer.lr=0.01,0.02", *common]
    envs = {
        "shared": {"OMP_NUM_THREADS": None, "MKL_NUM_THREADS": str(available_cores())},
        "user": {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": None},
        "single": {"OMP_NUM_THREADS": None, "MKL_NUM_THREADS": None},
    }
    args = {
        "shared": [*sweep, f"hydra.sweep.dir={base / 'shared'}"],
        "user": [*sweep, f"hydra.sweep.dir={base / 'user'}"],
        "single": [*common, f"hydra.run.dir={base / 'single'}"],
    }
    done = run_cli_many({name: (base / f"{name}-cwd", args[name], envs[name]) for name in envs})
    for name, proc in done.items():
        assert proc.returncode == 0, (name, proc.stderr[-3000:])
    return {name: (base / name, envs[name]) for name in envs}


def cpu_threads(folder, jobs=("0", "1")) -> list[int]:
    """The torch threads each job recorded in its summary.json."""
    return [json.loads((folder / job / "summary.json").read_text())["cpu_threads"] for job in jobs]


def test_parallel_jobs_share_the_cores_unless_the_user_set_omp_num_threads(thread_runs):
    import joblib

    # joblib counts the cores as loky does (CPU quotas too); each worker's share is that count // n_jobs.
    assert cpu_threads(thread_runs["shared"][0]) == [max(1, joblib.cpu_count() // 2)] * 2
    assert cpu_threads(thread_runs["user"][0]) == [3, 3]


def test_a_single_run_keeps_every_core_whatever_launcher_its_config_names(thread_runs, tmp_path):
    folder, env = thread_runs["single"]
    torch_default = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                                   env=cli_env(tmp_path, **env), capture_output=True, text=True, check=True)
    assert cpu_threads(folder, jobs=(".",)) == [int(torch_default.stdout)]


@pytest.mark.parametrize("n_jobs, cores, environ, expected", [
    (None, 8, {}, None),                          # the basic launcher: one job at a time, torch's default
    (1, 8, {}, None),
    (2, 8, {}, 4),
    (4, 2, {}, 1),                                # more jobs than cores: one thread each, never zero
    (-1, 8, {}, 1),                               # joblib's -1: a job per core
    (-2, 8, {}, 1),                               # all cores but one: 7 jobs, 8 // 7
    (-4, 8, {}, 1),                               # 5 jobs
    (-8, 8, {}, None),                            # 1 job
    (2, 8, {"OMP_NUM_THREADS": "3"}, 3),          # the user's own choice stands (set, so joblib's MKL=4 cannot win)
    (None, 8, {"OMP_NUM_THREADS": "3"}, None),    # alone: torch reads it itself
    (2, 8, {"OMP_NUM_THREADS": ""}, 4),           # an empty variable is no choice
    (2, 8, {"OMP_NUM_THREADS": "many"}, 4),       # nor is one that is not a number (torch ignores it too)
    (2, 8, {"OMP_NUM_THREADS": "0"}, 4),
])
def test_threads_per_job_is_the_jobs_share_of_the_cores(n_jobs, cores, environ, expected):
    from minitrain.threads import threads_per_job

    assert threads_per_job(n_jobs, cores, environ) == expected


def test_a_submitit_local_sweep_runs_both_jobs_and_reports_them(sweeps, fakes):
    require("submitit_local")
    sweep_dir, _ = check_sweep(sweeps, "submitit_local", fakes)
    assert (sweep_dir / ".submitit").is_dir()  # submitit's job files: the jobs ran as submitit jobs


def test_the_slurm_preset_asks_for_one_gpu_an_hour_and_leaves_the_partition_to_the_user(compose_config):
    require("submitit_local")
    cfg = compose_config("hydra/launcher=submitit_slurm", return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.gpus_per_node == 1
    assert launcher.partition is None
    assert launcher.timeout_min == 60
    assert launcher.nodes == 1 and launcher.tasks_per_node == 1


KILLER = '''
import os, signal
from minitrain.learner import Callback

class KillOwnWorker(Callback):
    """Kills its own process with SIGKILL (as the out-of-memory killer would) when the job's seed is `victim`."""
    def __init__(self, seed, victim):
        self.seed, self.victim = seed, victim
    def before_fit(self, learn):
        if self.seed == self.victim:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_joblib_worker_killed_mid_sweep_fails_its_own_job_and_the_others_finish(tmp_path, dataset_dirs, fakes,
                                                                                  run_cli):
    require("joblib")
    (tmp_path / "killer.py").write_text(KILLER)
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(tmp_path, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2,3", *fakes.tiny,
                   f"dataset.path={dataset_dirs['idx']}", f"hydra.sweep.dir={sweep_dir}",
                   "+callbacks.killer._target_=killer.KillOwnWorker", "+callbacks.killer.seed=${seed}",
                   "+callbacks.killer.victim=2", PYTHONPATH=str(tmp_path))
    assert proc.returncode == 1, proc.stderr[-3000:]  # a job did not complete: the sweep says so, as for any failure
    assert "Traceback" not in proc.stderr
    _, report = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [(r["job"], r["seed"], r["status"]) for r in report] == [("0", "1", "completed"), ("1", "2", "failed"),
                                                                   ("2", "3", "completed")]
    assert "worker process was killed" in report[1]["error"]
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["status"] == "failed"
