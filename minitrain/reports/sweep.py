"""The sweep report: one row per multirun job (its overrides, status and final metrics) and one plot."""

from __future__ import annotations

import math
from pathlib import Path

from minitrain import rundir
from minitrain.atomic import write_csv
from minitrain.reports.figures import curves
from minitrain.reports.table import narrow_table, short
from minitrain.tasks import all_columns

METRIC_COLUMNS = all_columns()  # every task's history columns (minitrain.tasks): a new metric shows up here too
_REPORT_COLUMNS = {"job", "status", "model_class", "wall_seconds", "error", "run_dir", *METRIC_COLUMNS}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def collect_jobs(sweep_dir: Path) -> list[dict]:
    """A row per job folder (numbered, with .hydra/overrides.yaml), ordered by job number."""
    rows = []
    job_dirs = [p for p in sweep_dir.iterdir() if p.is_dir() and (p / rundir.OVERRIDES).is_file()]
    for job_dir in sorted(job_dirs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)):
        row: dict = {"job": job_dir.name}
        row.update(dict(o.split("=", 1) for o in rundir.read_overrides(job_dir) or [] if "=" in o))
        summary = rundir.read_summary(job_dir) or {
            "status": "failed", "error": "the job left no summary.json (it was killed, or crashed early)"}
        row.setdefault("model", summary.get("model"))  # the model's option name (a column of its own unless swept)
        row["model_class"] = summary.get("model_class")  # and the class it built, e.g. mymodels.Net
        row["status"] = summary.get("status", "failed")
        row.update({k: v for k, v in (summary.get("final") or {}).items() if k in METRIC_COLUMNS})
        row["best_epoch"] = summary.get("best_epoch")
        row["best_" + (summary.get("best") or {}).get("metric", "metric")] = (summary.get("best") or {}).get("value")
        row["wall_seconds"] = summary.get("wall_seconds")
        row["error"] = summary.get("error", "")
        row["run_dir"] = str(job_dir)
        rows.append(row)
    return rows


def override_columns(rows: list[dict]) -> list[str]:
    """The override keys the jobs were launched with, in order of first appearance."""
    return [k for k in dict.fromkeys(k for row in rows for k in row) if k not in _REPORT_COLUMNS and not k.startswith("best_")]


def swept_columns(rows: list[dict]) -> list[str]:
    """The override keys whose values differ between jobs: what the sweep compares."""
    return [k for k in override_columns(rows) if len({str(row.get(k)) for row in rows}) > 1]


def sweep_table(rows: list[dict]):
    """The terminal's table of the jobs (a rich Table): job, swept values, status, final metrics. Narrow enough for
    80 columns with three swept keys: short numbers, headers folded after . and _, one space between columns."""
    metrics = [c for c in METRIC_COLUMNS if c not in ("epoch", "seconds") and any(c in r for r in rows)]
    columns = ["job", *swept_columns(rows), "status", *metrics]
    return narrow_table(columns, [[short(r.get(c)) for c in columns] for r in rows])


def write_sweep_report(sweep_dir: Path) -> tuple[list[dict], list[Path]]:
    """Write sweep.csv and sweep.png into `sweep_dir`; return the rows and the report files there (no sweep.png
    when no job has a final metric to plot; a search's optimization_results.yaml and Optuna's figures, optuna_*.png,
    when hydra/sweeper=optuna wrote them)."""
    rows = collect_jobs(sweep_dir)
    if not rows:
        return rows, []
    override_keys = override_columns(rows)
    columns = ["job", *override_keys, "model_class", "status", *[c for c in METRIC_COLUMNS if any(c in r for r in rows)],
               "best_epoch", *sorted({k for r in rows for k in r if k.startswith("best_") and k != "best_epoch"}),
               "wall_seconds", "error", "run_dir"]
    written = [sweep_dir / "sweep.csv"]
    write_csv(written[0], rows, columns)
    if _plot(sweep_dir / "sweep.png", rows):
        written.append(sweep_dir / "sweep.png")
    if (sweep_dir / "optimization_results.yaml").is_file():  # an Optuna search's best trial, written by the sweeper
        written.append(sweep_dir / "optimization_results.yaml")
    written += sorted(sweep_dir.glob("optuna_*.png"))  # and its figures (hydra_plugins/minitrain_sweepers/_pictures.py)
    return rows, written


def _plot(path: Path, rows: list[dict]) -> bool:
    """Plot the final metric of every job that has one; False if none has."""
    varying = swept_columns(rows)
    metric = "valid_accuracy" if any("valid_accuracy" in r for r in rows) else "valid_loss"
    done = [r for r in rows if metric in r]
    if not done:
        return False
    key = varying[0] if len(varying) == 1 else None
    xs = [_number(str(r.get(key))) for r in done] if key else []
    if key and all(x is not None for x in xs):
        order = sorted(range(len(done)), key=lambda i: xs[i])
        x = [xs[i] for i in order]
        y = [done[i][metric] for i in order]
        logx = min(x) > 0 and max(x) / min(x) >= 10
        curves(path, x, {metric: y}, key, f"final {metric}", title=f"Sweep: final {metric} against {key}", logx=logx)
    else:
        names = _short_keys(varying)
        labels = [": ".join([f"job {r['job']}", *([" ".join(f"{names[k]}={short(r.get(k))}" for k in varying)]
                                                   if varying else [])]) for r in done]
        _bars(path, labels, [r[metric] for r in done], metric)
    return True


def _short_keys(keys: list[str]) -> dict[str, str]:
    """Each key by its last part (optimizer.lr: lr) where that part names one key only, else in full."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: name if last.count(name) == 1 else k for k, name in zip(keys, last)}


def _bars(path: Path, labels: list[str], values: list[float], metric: str) -> None:
    """One horizontal bar per job, labelled with its values on the left: long labels stay readable, unrotated."""
    from minitrain.reports.figures import Figure, save_figure

    fig = Figure(figsize=(8, 1.2 + 0.35 * len(labels)))
    ax = fig.add_subplot()
    bars = ax.barh(range(len(values)), values)
    ax.bar_label(bars, fmt="%.4f", fontsize=8, padding=2)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()  # the first job on top
    ax.set_xlim(0, max(values) * 1.12 if max(values) > 0 else 1)
    ax.set_xlabel(f"final {metric}")
    ax.set_title(f"Sweep: final {metric} per job")
    save_figure(fig, path)
