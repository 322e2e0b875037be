"""hydra/sweeper=optuna (hydra_plugins/minitrain_sweepers): a trial worse than the median is pruned and recorded as
pruned everywhere, the study lives in SQLite in the sweep directory and survives a kill or a Ctrl-C, parallel
joblib trials share it, Optuna's figures are drawn, and bad input gets one line. The study is read back through
Optuna's own API."""

from __future__ import annotations

import json
import shlex
import signal
import time

import pytest

from conftest import TINY, finish, start_minitrain

optuna = pytest.importorskip("optuna", reason="Optuna is not installed (pip install 'minitrain[scale]'); CI installs it")
State = optuna.trial.TrialState
BASE = [a for a in TINY if not a.startswith("trainer.epochs=")]  # each test says how many epochs
LR = "optimizer.lr=tag(log,interval(0.001,0.1))"
SLOW = {"timeout": 600}  # seconds a search may take on two busy cores (each trial is a job: seconds each)
PICTURES = ["optuna_history.png", "optuna_importances.png", "optuna_intermediate.png", "optuna_slice.png"]


def search(data, sweep_dir, *args):
    """The arguments of a tiny Optuna search of the MLP into `sweep_dir`."""
    return ["-m", "hydra/sweeper=optuna", *BASE, f"dataset.path={data}", f"hydra.sweep.dir={sweep_dir}", *args]


def study_in(sweep_dir):
    """The study a search keeps in its sweep directory, opened with Optuna."""
    return optuna.load_study(study_name="minitrain", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")


def error_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture(scope="module")
def searches(tmp_path_factory, dataset_dirs, run_cli_many):
    """Searches side by side: {name: (sweep_dir, proc)}.

    - "good" then "pruned": one trial of a good learning rate, then the study continued with a learning rate that
      cannot learn, under the median pruner: its first epoch is below the good trial's, so it is pruned there;
    - "joblib": four trials, two at a time in joblib's worker processes, sharing the study;
    - "bad_pruner", "no_study", "grid_interval", "taken": bad input (an unknown pruner, a resume with no study, a
      grid over a continuous interval, a new search into the storage of an existing study)."""
    base = tmp_path_factory.mktemp("searches")
    data = dataset_dirs["idx"]
    sweep = {name: base / name / "sweep" for name in ("good", "joblib", "bad_pruner", "no_study", "grid_interval", "taken")}
    prune = ["hydra.sweeper.pruner=median", "hydra.sweeper.pruning.startup_trials=1", "trainer.epochs=3"]
    first = {
        "good": search(data, sweep["good"], *prune, "hydra.sweeper.n_trials=1", "optimizer.lr=0.05"),
        "joblib": search(data, sweep["joblib"], "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", LR,
                         "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.seed=0", "trainer.epochs=2"),
        "bad_pruner": search(data, sweep["bad_pruner"], "hydra.sweeper.pruner=sometimes", LR),
        "no_study": search(data, sweep["no_study"], "hydra.sweeper.resume=true", LR),
        "grid_interval": search(data, sweep["grid_interval"], "hydra/sweeper/sampler=grid", LR),
    }
    done = run_cli_many({name: (base / name, args, SLOW) for name, args in first.items()})
    then = {
        "pruned": search(data, sweep["good"], *prune, "hydra.sweeper.n_trials=2", "hydra.sweeper.resume=true",
                         "optimizer.lr=0.0000001"),
        "taken": search(data, sweep["taken"], LR, f"hydra.sweeper.storage=sqlite:///{sweep['good'] / 'optuna.db'}"),
    }
    done |= run_cli_many({name: (base / f"{name}-cwd", args, SLOW) for name, args in then.items()})
    sweep["pruned"] = sweep["good"]
    return {name: (sweep[name], proc) for name, proc in done.items()}


def test_a_trial_below_the_median_is_pruned_and_recorded_as_pruned_everywhere(searches, fakes):
    sweep_dir, proc = searches["pruned"]
    assert proc.returncode == 0, proc.stderr[-3000:]  # a pruned trial is no failure
    good, pruned = study_in(sweep_dir).trials
    assert (good.state, pruned.state) == (State.COMPLETE, State.PRUNED)
    assert list(pruned.intermediate_values) == [1]  # reported its first epoch, then stopped
    assert pruned.intermediate_values[1] < good.intermediate_values[1]
    summary = json.loads((sweep_dir / "1" / "summary.json").read_text())
    assert (summary["status"], summary["stopped_epoch"], summary["epochs_completed"]) == ("pruned", 1, 1)
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [(r["job"], r["status"], r["epoch"]) for r in rows] == [("0", "completed", "3"), ("1", "pruned", "1")]
    run = sweep_dir / "1"  # the pruned run's directory is a complete run of one epoch
    assert [r["epoch"] for r in fakes.read_csv(run / "metrics.csv")[1]] == ["1"]
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert all(fakes.is_png(run / name) for name in ("losses.png", "predictions.png"))
    assert fakes.is_png(sweep_dir / "optuna_intermediate.png")  # the pruned trial's epoch is on it


def test_parallel_joblib_trials_share_one_study_each_with_its_share_of_the_cores(searches, fakes):
    joblib = pytest.importorskip("joblib")
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install 'minitrain[scale]'; CI installs it")

    sweep_dir, proc = searches["joblib"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    trials = study_in(sweep_dir).trials
    assert [(t.state, t.user_attrs["job"]) for t in trials] == [(State.COMPLETE, job) for job in range(4)]
    assert all(list(t.intermediate_values) == [1, 2] for t in trials)  # each worker reported its epochs
    first, second = trials[:2]
    assert second.datetime_start < first.datetime_complete  # the two ran side by side
    threads = {json.loads((sweep_dir / str(job) / "summary.json").read_text())["cpu_threads"] for job in range(4)}
    assert threads == {max(1, joblib.cpu_count() // 2)}
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [r["status"] for r in rows] == ["completed"] * 4


def test_a_search_writes_optunas_figures_beside_its_report(searches, fakes):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install 'minitrain[scale]'; CI installs it")
    sweep_dir, proc = searches["joblib"]
    assert all(fakes.is_png(sweep_dir / name) for name in PICTURES), sorted(p.name for p in sweep_dir.iterdir())
    assert all(name in proc.stdout for name in PICTURES)  # the report lists them
    best = study_in(sweep_dir).best_trial
    import yaml

    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results == {"name": "optuna", "best_params": best.params, "best_value": best.value}


@pytest.mark.parametrize("name, message", [
    ("bad_pruner", "hydra.sweeper.pruner=sometimes is not a pruner: give none, median, hyperband."),
    ("no_study", "holds no study 'minitrain' to continue"),
    ("grid_interval", "optimizer.lr is a continuous interval: give optimizer.lr=choice(...) or range(...)"),
    ("taken", "already holds the study 'minitrain'; a new search would mix its trials into it"),
])
def test_bad_search_input_gets_one_line_and_exit_2(searches, name, message):
    sweep_dir, proc = searches[name]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert [message in line for line in error_lines(proc)] == [True], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not any(p.is_dir() for p in sweep_dir.glob("[0-9]*"))  # no trial ran


def wait_for(path, proc, timeout: float = 300) -> None:
    """Until `path` exists (the search got that far); fails if the search ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "the search ended before it got there"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.05)


def test_a_killed_study_continues_keeping_finished_trials_and_running_the_interrupted_one_again(
        tmp_path, dataset_dirs, fakes, run_cli):
    sweep_dir = tmp_path / "sweep"
    args = search(dataset_dirs["idx"], sweep_dir, LR, "hydra.sweeper.n_trials=3", "trainer.epochs=3",
                  "hydra.sweeper.sampler.seed=0")
    proc = start_minitrain(tmp_path / "first", *args)
    try:
        wait_for(sweep_dir / "1", proc)  # trial 0 is told, trial 1's job has started
    finally:
        proc.kill()  # kill -9: nothing gets to clean up
        proc.wait()
    killed = study_in(sweep_dir).trials
    assert [t.state for t in killed] == [State.COMPLETE, State.RUNNING]

    refused = run_cli(tmp_path / "again", *args, **SLOW)  # the same command without resume=true does not touch the study
    assert refused.returncode == 2 and "hydra.sweeper.resume=true" in error_lines(refused)[0]
    assert [t.state for t in study_in(sweep_dir).trials] == [State.COMPLETE, State.RUNNING]

    resumed = run_cli(tmp_path / "resumed", *args, "hydra.sweeper.resume=true", **SLOW)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials = study_in(sweep_dir).trials
    assert [t.state for t in trials] == [State.COMPLETE, State.FAIL, State.COMPLETE, State.COMPLETE]
    assert len(study_in(sweep_dir).get_trials(states=(State.COMPLETE,))) == 3  # n_trials counts the whole study
    assert trials[0].params == killed[0].params  # the finished trial was kept, not run again
    assert trials[2].user_attrs["rerun_of"] == 1 and trials[2].params == killed[1].params  # the killed one was
    assert trials[3].params != trials[0].params  # a continued sampler does not propose its first trials again
    _, rows = fakes.read_csv(sweep_dir / "sweep.csv")
    assert [(r["job"], r["status"]) for r in rows] == [("0", "completed"), ("2", "completed"), ("3", "completed")]
    assert (sweep_dir / "interrupted" / "1").is_dir() and not (sweep_dir / "1").exists()  # the killed job, kept aside


def test_ctrl_c_stops_the_search_and_prints_the_command_that_continues_it(tmp_path, dataset_dirs, run_cli):
    sweep_dir = tmp_path / "sweep"
    args = search(dataset_dirs["idx"], sweep_dir, LR, "hydra.sweeper.n_trials=1", "trainer.epochs=8")
    proc = start_minitrain(tmp_path / "first", *args)
    wait_for(sweep_dir / "0" / "metrics.csv", proc)  # the trial is training
    proc.send_signal(signal.SIGINT)
    stopped = finish(proc, tmp_path / "first")
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    [trial] = study_in(sweep_dir).trials
    assert (trial.state, trial.user_attrs["status"]) == (State.FAIL, "interrupted")
    said = [line for line in stopped.stderr.splitlines() if line.startswith("Continue it with: ")]
    command = shlex.split(said[0].removeprefix("Continue it with: "))
    assert command[0] == "minitrain" and command[-1] == "hydra.sweeper.resume=true"
    assert sorted(command[1:-1]) == sorted(args)

    resumed = run_cli(tmp_path / "resumed", *command[1:], **SLOW)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [t.state for t in study_in(sweep_dir).trials] == [State.FAIL, State.COMPLETE]


RETIRED = '''"""A stand-in for the retired hydra-optuna-sweeper plugin: configs of the same names as this sweeper's."""
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore


@dataclass
class RetiredSweeperConf:
    _target_: str = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    direction: str = "minimize"


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=RetiredSweeperConf)
'''
COMPOSE = """from hydra import compose, initialize_config_dir
from minitrain.config import config_dir, register_configs
register_configs()
with initialize_config_dir(config_dir=config_dir(), version_base=None):
    cfg = compose("config", overrides=["hydra/sweeper=optuna", "hydra.sweeper.pruner=median"], return_hydra_config=True)
print(cfg.hydra.sweeper._target_, cfg.hydra.sweeper.direction)
"""


def test_the_retired_optuna_plugin_still_installed_does_not_replace_this_sweepers_config(tmp_path):
    import subprocess
    import sys

    from conftest import REPO, cli_env

    installed = tmp_path / "site"  # on the path after this checkout: Hydra imports the stand-in after this sweeper
    plugin = installed / "hydra_plugins" / "retired_optuna"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    (plugin / "config.py").write_text(RETIRED)
    proc = subprocess.run([sys.executable, "-c", COMPOSE], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=cli_env(tmp_path, checkout=False, PYTHONPATH=f"{REPO}:{installed}"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["hydra_plugins.minitrain_sweepers.optuna_sweeper.OptunaSweeper", "maximize"]
