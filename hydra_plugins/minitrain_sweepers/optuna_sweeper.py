"""`hydra/sweeper=optuna`: its config (the schema below, with the samplers tpe, random and grid) and the Sweeper class.

Hydra imports this module whenever it starts (it looks for plugins in `hydra_plugins`), so it stays light: the
search itself, which imports Optuna, is in the private modules beside it (Hydra skips names starting with `_`):
_space.py (the search space), _study.py (the study in its storage, the trial a job reports to), _sweep.py (ask,
launch, tell) and _pictures.py (Optuna's figures). Without Optuna (pip install "minitrain[scale]") it offers nothing.
No `from __future__ import annotations` here: Hydra runs this module without registering it in sys.modules, where
dataclasses cannot read string annotations.
"""

import importlib.util
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.config_store import ConfigStore
from hydra.plugins.search_path_plugin import SearchPathPlugin
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig


@dataclass
class PruningConf:
    startup_trials: int = 5      # median: trials that run every epoch before any trial is pruned
    min_epochs: int = 1          # epochs every trial trains before it may be pruned (hyperband: its smallest budget)
    reduction_factor: int = 3    # hyperband: 1 in this many trials goes on to the next, larger budget


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.minitrain_sweepers.optuna_sweeper.OptunaSweeper"
    _recursive_: bool = False     # the sweeper builds its sampler itself: a resumed study's is seeded anew
    defaults: List[Any] = field(default_factory=lambda: [{"sampler": "tpe"}])
    sampler: Any = MISSING        # hydra/sweeper/sampler=tpe | random | grid: what proposes each trial's values
    # maximize | minimize; by default what suits optimized_metric (accuracy up, losses down: minitrain/search.py)
    direction: str = "${minitrain.direction:${model.task},${optimized_metric}}"
    n_trials: int = 20            # trials in the study, counting those an earlier, resumed run of it finished
    n_jobs: Optional[int] = None  # trials launched at once; null: as many as the launcher runs side by side
    params: Optional[Dict[str, str]] = None  # the search space, in Hydra's override syntax (beside the command line's)
    pruner: str = "none"          # none | median | hyperband: stop a trial early when its epochs compare badly
    pruning: PruningConf = field(default_factory=PruningConf)  # the pruner's settings
    storage: Optional[str] = None  # Optuna's storage URL; null: sqlite:///<hydra.sweep.dir>/optuna.db
    study_name: str = "minitrain"  # the study's name in the storage
    resume: bool = False          # continue the study already in the storage (same hydra.sweep.dir) instead of refusing
    # set by the sweeper in each job's config (null outside a job): the trial the job reports to, which the job
    # opens with its `_target_` (_study.open_trial) from the study's storage, study_name and the trial's number
    trial: Any = None


@dataclass
class TPESamplerConf:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None    # the same seed proposes the same trials
    n_startup_trials: int = 10    # random trials before TPE starts modelling which values do well
    n_ei_candidates: int = 24     # candidates TPE compares for each proposal
    multivariate: Optional[bool] = None  # model the parameters jointly, not one by one (null: Optuna's default)


@dataclass
class RandomSamplerConf:
    _target_: str = "optuna.samplers.RandomSampler"
    seed: Optional[int] = None    # the same seed proposes the same trials


@dataclass
class GridSamplerConf:
    _target_: str = "optuna.samplers.GridSampler"
    _partial_: bool = True        # the grid itself comes from the search space, when the sweep starts
    seed: Optional[int] = None    # the order in which the grid's points are tried


def register() -> None:
    """Offer `hydra/sweeper=optuna` and its samplers, when Optuna is installed."""
    if importlib.util.find_spec("optuna") is None:
        return
    cs = ConfigStore.instance()
    cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="minitrain")
    for name, node in {"tpe": TPESamplerConf, "random": RandomSamplerConf, "grid": GridSamplerConf}.items():
        cs.store(group="hydra/sweeper/sampler", name=name, node=node, provider="minitrain")


register()


class RegisterAfterEveryPlugin(SearchPathPlugin):
    """Registers this sweeper's configs again once Hydra has imported every plugin, before anything composes.

    The retired hydra-optuna-sweeper plugin, where it is still installed, registers configs of the same names
    (hydra/sweeper/optuna, its samplers) when Hydra imports it, which may come after this module: registered
    again here, these are the ones used, whatever order Hydra found the plugins in. The search path is left as
    it is."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        register()


class OptunaSweeper(Sweeper):
    """Hydra's Sweeper interface to minitrain's Optuna search (the work is in _sweep.py)."""

    def __init__(self, **options: Any) -> None:
        from hydra_plugins.minitrain_sweepers._sweep import Search

        self.search = Search(**options)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> None:
        return self.search.sweep(arguments)
