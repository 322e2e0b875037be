"""What a job gives a hyper-parameter search (`hydra/sweeper=optuna`): one number, and which way is better."""

from __future__ import annotations

import math
from typing import Optional

from minitrain.overrides import value_of, with_key

# Optuna's direction, worked out once the config has composed (it depends on model.task and optimized_metric).
DIRECTION = "hydra.sweeper.direction='${minitrain.direction:${model.task},${optimized_metric}}'"


def optuna_argv(argv: list[str]) -> list[str]:
    """`hydra/sweeper=optuna` on the command line: add the direction that matches the metric, unless given.

    The plugin's own default is `minimize`, which would search for the worst accuracy; and its config
    cannot be replaced by one of ours of the same name (it has a defaults list), so this sets it."""
    chose_optuna = any(value_of(a) == "optuna" for a in with_key(argv, "hydra/sweeper"))
    if chose_optuna and not with_key(argv, "hydra.sweeper.direction"):
        return [*argv, DIRECTION]
    return argv


def direction(task: str, metric: Optional[str] = None) -> str:
    """Optuna's direction for `metric` (a sweep.csv column; None: the task's best-epoch metric).

    Resolved as `minitrain.direction` (see optuna_argv), so a search maximises accuracy and minimises MSE unasked."""
    if metric is None:
        from minitrain.tasks import TASKS  # imports torch: only a search that starts resolves this

        return "maximize" if TASKS[str(task)].mode == "max" else "minimize"
    return "minimize" if metric.endswith("loss") else "maximize"


def metric_names(task: str) -> list[str]:
    """What `optimized_metric` may name for a task: the final epoch's losses and metrics, and best_<monitor>."""
    from minitrain.tasks import TASKS

    spec = TASKS[str(task)]
    return ["train_loss", "valid_loss", *(f"valid_{name}" for name in spec.metrics), f"best_{spec.monitor}"]


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
