"""What a job gives a hyper-parameter search (`hydra/sweeper=optuna`): one number, and which way is better."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from minitrain import rundir


def direction(task: str, metric: Optional[str] = None) -> str:
    """Optuna's direction for `metric` (a sweep.csv column; None: the task's best-epoch metric).

    Resolved as `minitrain.direction`, the default of hydra.sweeper.direction (hydra_plugins/minitrain_sweepers),
    so a search maximises accuracy and minimises MSE unasked."""
    if metric is None:
        from minitrain.tasks import TASKS  # imports torch: only a search that starts resolves this

        return "maximize" if TASKS[str(task)].mode == "max" else "minimize"
    return "minimize" if metric.endswith("loss") else "maximize"


def metric_names(task: str) -> list[str]:
    """What `optimized_metric` may name for a task: the final epoch's losses and metrics, and best_<monitor>."""
    from minitrain.tasks import TASKS

    spec = TASKS[str(task)]
    return ["train_loss", "valid_loss", *(f"valid_{name}" for name in spec.metrics), f"best_{spec.monitor}"]


def objective_name(task: str, metric: Optional[str] = None) -> str:
    """The name of what a job returns to a search: `metric`, or the task's best-epoch metric (best_valid_accuracy)."""
    return metric or metric_names(task)[-1]


def metric_values(summary: dict) -> dict[str, float]:
    """The numbers a summary offers, named as sweep.csv names them: the final epoch's, and best_<metric>."""
    values = {k: v for k, v in (summary.get("final") or {}).items() if k != "epoch" and isinstance(v, (int, float))}
    best = summary.get("best") or {}
    if best.get("value") is not None:
        values[f"best_{best['metric']}"] = best["value"]
    return values


def objective(summary: dict, task: str, metric: Optional[str] = None) -> float:
    """The job's value of `metric` (None: the task's best-epoch metric); the worst value in `metric`'s direction
    when the job did not complete (failed, diverged) or has no such value (lr_find=true trains no epoch), so
    that a search goes on past it. check_config has refused a name that no run of the task has."""
    worst = -math.inf if direction(task, metric) == "maximize" else math.inf
    if summary.get("status") != "completed":
        return worst
    values = metric_values(summary)
    name = metric or next((k for k in values if k.startswith("best_")), None)
    value = float(values.get(name, worst))
    return value if math.isfinite(value) else worst


def epoch_value(history: list[dict], task: str, metric: Optional[str] = None) -> float:
    """The value `objective` would give if the run ended after the last epoch of `history`: what a search's pruner
    compares between trials, epoch by epoch (the best epoch so far, for a best_<metric>)."""
    from minitrain.tasks import TASKS

    spec = TASKS[str(task)]
    best = spec.best_row(history)
    summary = {"status": "completed", "final": history[-1] if history else {},
               "best": {"metric": spec.monitor, "value": best[spec.monitor]} if best else None}
    return objective(summary, task, metric)


def run_objective(run_dir: Path) -> float:
    """What the job in `run_dir` returned to its search, read back from its summary.json and its config
    (.hydra/config.yaml, plain data); NaN when either is missing or unreadable."""
    summary, config = rundir.read_summary(run_dir), rundir.read_config(run_dir)
    try:
        return objective(summary or {}, str(config["model"]["task"]), config.get("optimized_metric"))
    except (KeyError, TypeError):
        return math.nan
