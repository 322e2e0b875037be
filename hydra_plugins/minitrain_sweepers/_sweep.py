"""The search: ask Optuna for trials, launch each as a Hydra job, tell Optuna how each ended; write the best trial
and Optuna's figures at the end. A Ctrl-C stops it with the command that continues it."""

from __future__ import annotations

import functools
import logging
import math
import shlex
import sys
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.plugins import Plugins
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig

from hydra_plugins.minitrain_sweepers import _pictures, _space, _study
from minitrain import rundir
from minitrain.atomic import write_atomic
from minitrain.errors import Exit, MinitrainError, fail
from minitrain.overrides import quoted, without_key
from minitrain.search import objective_name
from minitrain.threads import available_cores, parallel_jobs

log = logging.getLogger(__name__)
RESULTS = "optimization_results.yaml"  # the best trial, as the retired hydra-optuna-sweeper plugin wrote it
INTERRUPTS = (130, 143)  # a job's exit code after Ctrl-C or SIGTERM (minitrain.job)


class Search:
    """One Optuna study run as a Hydra sweep (the options are hydra.sweeper's: optuna_sweeper.OptunaSweeperConf)."""

    def __init__(self, sampler: Any, direction: str, n_trials: int, n_jobs: int | None, params: Any, pruner: str,
                 pruning: Any, storage: str | None, study_name: str, resume: bool, trial: Any = None) -> None:
        self.sampler, self.n_trials, self.n_jobs, self.resume = sampler, n_trials, n_jobs, resume
        self.params = dict(params or {})
        self.pruner_name, self.pruning, self.storage, self.study_name = pruner, pruning, storage, study_name
        self.direction = str(direction)
        if self.direction not in ("maximize", "minimize"):
            fail(f"hydra.sweeper.direction={self.direction}: give maximize or minimize (or leave it out: it "
                 "follows optimized_metric).")
        self.pruner = _or_fail(_study.make_pruner, pruner, pruning)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)

    def sweep(self, arguments: list[str]) -> None:
        """Run trials until the study holds n_trials that ended (completed, pruned, or failed by themselves)."""
        space = _or_fail(_space.parse, [f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        url = _study.storage_url(self.storage, self.sweep_dir)
        study = _or_fail(_study.open_study, url, self.study_name, self.pruner, self.direction, self.resume,
                         self.sweep_dir)
        study.sampler, n_trials = self.make_sampler(space, len(study.trials))
        again = _study.rerun_interrupted(study, self.sweep_dir) if self.resume else []
        done = sum(_study.counted(t) for t in study.get_trials(deepcopy=False))
        log.info("Study %s in %s: %d of %d trials done%s, sampler %s, pruner %s, %s", self.study_name, url, done,
                 n_trials, f", {len(again)} interrupted ones to run again" if again else "",
                 type(study.sampler).__name__, self.pruner_name, self.direction)
        job, batch_size = _study.next_job(study, self.sweep_dir), self.batch_size()
        while done < n_trials:
            trials = [study.ask(space.distributions) for _ in range(min(batch_size, n_trials - done))]
            self.run(study, trials, space, url, job)
            job, done = job + len(trials), done + len(trials)
        self.report(study)

    def make_sampler(self, space: _space.Space, trials_before: int) -> tuple[optuna.samplers.BaseSampler, int]:
        """hydra.sweeper.sampler, and the number of trials to run with it (a grid has only so many points).

        Continuing a study, the seed is moved on by the trials already there: seeded as at the start, the sampler
        would propose again the values of the study's first trials."""
        options = {"seed": self.sampler.seed + trials_before} if self.sampler.get("seed") is not None else {}
        sampler = instantiate(self.sampler, **options)
        if not isinstance(sampler, functools.partial):
            return sampler, self.n_trials
        grid = _or_fail(_space.grid, space)  # the grid sampler: its grid is the search space
        return sampler(grid), min(self.n_trials, math.prod(len(values) for values in grid.values()))

    def batch_size(self) -> int:
        """Trials launched at once: hydra.sweeper.n_jobs, or as many as the launcher runs side by side."""
        if self.n_jobs:
            return self.n_jobs
        return parallel_jobs(self.config.hydra.launcher.get("n_jobs"), available_cores())

    def run(self, study: optuna.Study, trials: list, space: _space.Space, url: str, first_job: int) -> None:
        """Launch `trials` as jobs first_job, first_job + 1, ..., and tell the study how each ended."""
        overrides = []
        for job, trial in enumerate(trials, start=first_job):
            trial.set_user_attr("job", job)
            overrides.append([*_space.overrides(trial.params, space), self.trial_override(url, trial.number)])
        try:
            self.launcher.launch(overrides, initial_job_idx=first_job)
        except BaseException as e:
            self.tell(study, trials, first_job)
            code = 130 if isinstance(e, KeyboardInterrupt) else getattr(e, "code", None)
            if code in INTERRUPTS:
                self.interrupted(study, code)
            raise
        self.tell(study, trials, first_job)

    def trial_override(self, url: str, number: int) -> str:
        """hydra.sweeper.trial for the job of trial `number`: how it opens its trial (the pruner is the job's own
        hydra.sweeper.pruner, composed from the same command line as this sweeper's)."""
        opener = f"{_study.__name__}.{_study.open_trial.__name__}"
        return (f"hydra.sweeper.trial={{_target_:{opener},storage:{quoted(url)},study_name:{quoted(self.study_name)},"
                f"number:{number},pruner:${{hydra.sweeper.pruner}},pruning:${{hydra.sweeper.pruning}}}}")

    def tell(self, study: optuna.Study, trials: list, first_job: int) -> None:
        """Tell the study how each of `trials` still running ended (its job's summary.json says)."""
        running = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
        for job, trial in enumerate(trials, start=first_job):
            if trial.number in running:
                _study.tell(study, trial, rundir.job_dir(self.sweep_dir, job))

    def interrupted(self, study: optuna.Study, exit_code: int) -> None:
        """Ctrl-C: say how far the study got and how to continue it, and exit."""
        from rich.console import Console
        from rich.text import Text

        done = sum(_study.counted(t) for t in study.get_trials(deepcopy=False))
        said = (f"the search after {done} of {self.n_trials} trials; the study is saved in {self.sweep_dir}.\n"
                f"Continue it with: {resume_command(sys.argv[1:], self.sweep_dir)}")
        Console(stderr=True, highlight=False).print(Text.assemble(("Interrupted", "bold yellow"), " ", said),
                                                    soft_wrap=True)
        raise Exit(exit_code)

    def report(self, study: optuna.Study) -> None:
        """optimization_results.yaml (the best trial) and Optuna's figures, in the sweep directory."""
        completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not completed:
            log.warning("No trial of the study completed: there is no best trial to write")
            return
        best = study.best_trial
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value}
        write_atomic(self.sweep_dir / RESULTS, lambda f: yaml.safe_dump(results, f, sort_keys=False))
        log.info("Best parameters: %s", best.params)
        log.info("Best value: %s", best.value)
        _pictures.write(study, self.sweep_dir, objective_name(str(self.config.model.task), self.config.optimized_metric))


def resume_command(argv: list[str], sweep_dir: Path) -> str:
    """The command line that continues the search in `sweep_dir`: `argv` with its sweep directory and resume=true."""
    kept = without_key(argv, "hydra.sweep.dir", "hydra.sweeper.resume")
    return " ".join(["minitrain", *map(shlex.quote, kept), shlex.quote(f"hydra.sweep.dir={sweep_dir}"),
                     "hydra.sweeper.resume=true"])


def _or_fail(make, *args):
    """`make(*args)`, or a one-line message and exit 2 on a MinitrainError (bad input)."""
    try:
        return make(*args)
    except MinitrainError as e:
        fail(str(e), e.exit_code)
