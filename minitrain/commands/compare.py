"""`minitrain compare DIR [DIR ...]`: runs side by side, from any sweeps, days or presets: what differs in their
configs with their final and best metrics and wall time (a table, and compare.csv), and every run's validation
curves on one figure (compare.png). Reads the run files only: torch is never imported."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from minitrain import rundir
from minitrain.errors import RunError
from minitrain.reports.table import narrow_table, short

HELP = """\
minitrain compare: runs side by side, from any sweeps, days or presets (nothing is trained or loaded).

Usage:
  minitrain compare DIR [DIR ...] [out=FOLDER]

Each DIR is a run directory (outputs/DATE/TIME) or a folder of runs: a sweep directory
(outputs/multirun/DATE/TIME: each of its jobs) or a day's outputs/DATE. Prints a table of the config keys whose values differ between the runs, with each run's status, final
and best metrics and wall time; writes it as FOLDER/compare.csv, and every run's validation curves, labelled by
what differs, as FOLDER/compare.png.

Options:
  out=compare           the folder the table and the figure are written to

Example:
  minitrain compare outputs/2026-01-31/12-00-00 outputs/multirun/2026-02-01/09-30-00 out=reports/lr
"""
CURVES = ("valid_loss", "valid_accuracy", "valid_psnr")  # the validation columns drawn, when a run has them
LABEL_KEYS = 3  # config keys a curve's label names (the table has them all)


@dataclass
class Options:
    dirs: list = field(default_factory=list)
    out: str = "compare"


@dataclass
class Run:
    """One run as its files describe it: its folder, composed config (flattened), summary and epochs."""

    name: str
    config: dict[str, str]
    summary: dict[str, Any]
    history: list[dict[str, float]]


def parse(argv: list[str]) -> Options:
    """Folders, and `out=FOLDER`; a `KEY=VALUE` that is neither is refused, naming what the command takes."""
    opts = Options()
    for arg in argv:
        if arg.startswith("out="):
            opts.out = arg.split("=", 1)[1]
        elif "=" in arg and not Path(arg).expanduser().exists():
            raise RunError(f"minitrain compare: '{arg}' is not a folder. It takes run or sweep folders and out=FOLDER "
                           "(see minitrain compare --help).")
        else:
            opts.dirs.append(arg)
    if not opts.dirs:
        raise RunError("minitrain compare needs at least one run or sweep folder, e.g. "
                       "minitrain compare outputs/2026-01-31/12-00-00 outputs/2026-02-01/09-30-00.")
    return opts


def run_dirs(given: str) -> list[Path]:
    """The runs `given` names: itself when it holds a run, else the runs in it (a sweep's jobs, by job number, or a
    day's runs, outputs/DATE)."""
    folder = Path(given).expanduser()
    if not folder.is_dir():
        raise RunError(f"minitrain compare: {given} does not exist. Give run or sweep folders, e.g. "
                       "outputs/2026-01-31/12-00-00.")
    if rundir.holds_run(folder):
        return [folder]
    jobs = [p for p in folder.iterdir() if p.is_dir() and rundir.holds_run(p)]
    if not jobs:
        raise RunError(f"minitrain compare: {given} is neither a run (no {rundir.SUMMARY}, {rundir.METRICS} or "
                       f"{rundir.CHECKPOINTS}/ in it) nor a sweep of runs. Give run or sweep folders.")
    return sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """A config as dotted keys -> their values written out (lists whole)."""
    if not isinstance(node, dict):
        return {prefix: str(node)} if prefix else {}
    flat: dict[str, str] = {}
    for key, value in node.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def read_run(folder: Path, name: str) -> Run:
    return Run(name, flatten(rundir.read_config(folder) or {}), rundir.read_summary(folder) or {},
               rundir.read_metrics(folder))


def differing(runs: list[Run]) -> list[str]:
    """The config keys whose values are not the same in every run (a key some runs lack counts), in config order."""
    keys = dict.fromkeys(k for run in runs for k in run.config)
    return [k for k in keys if len({run.config.get(k) for run in runs}) > 1]


def row(run: Run, keys: list[str]) -> dict[str, Any]:
    """A run's line of the table: the differing keys, how it ended, its final and best metrics, its wall time."""
    summary = run.summary
    final = summary.get("final") or (run.history[-1] if run.history else {})
    best = summary.get("best") or {}
    cells: dict[str, Any] = {"run": run.name, **{k: run.config.get(k, "") for k in keys}}
    cells["status"] = summary.get("status", "no summary.json")
    cells["epochs"] = summary.get("epochs_completed", len(run.history))
    cells |= {f"final_{k}": v for k, v in final.items() if k not in ("epoch", "seconds")}
    if best.get("metric"):
        cells[f"best_{best['metric']}"] = best.get("value")
        cells["best_epoch"] = summary.get("best_epoch")
    cells["wall_seconds"] = summary.get("wall_seconds")
    return cells


def label(run: Run, keys: list[str]) -> str:
    """What tells a run apart on the figure: the first differing keys' values, else its folder."""
    shown = [f"{k}={short(run.config.get(k, '-'))}" for k in keys[:LABEL_KEYS]]
    more = f" (+{len(keys) - LABEL_KEYS} more)" if len(keys) > LABEL_KEYS else ""
    return f"{run.name}: {' '.join(shown)}{more}" if shown else run.name


def curves(runs: list[Run], keys: list[str]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per validation column that some run has: each run's (epochs, values)."""
    panels: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for metric in CURVES:
        lines = {label(run, keys): ([r["epoch"] for r in run.history if metric in r],
                                    [r[metric] for r in run.history if metric in r]) for run in runs}
        if any(x for x, _ in lines.values()):
            panels[metric] = {name: line for name, line in lines.items() if line[0]}
    return panels


def short_names(paths: list[Path]) -> dict[Path, str]:
    """Each run's name in the table and on the figure: its path below the folder all of them share (the full path
    is compare.csv's `path` column)."""
    if len(paths) < 2:
        return {p: p.name for p in paths}
    common = Path(os.path.commonpath(paths))
    return {p: str(p.relative_to(common)) if p != common else p.name for p in paths}


def print_table(rows: list[dict[str, Any]], columns: list[str], keys: list[str], console=None) -> None:
    """The table in the terminal: the validation metrics only (compare.csv has the training loss too), the best
    epoch's metric and number in one cell (0.9204 @6). The differing keys come first, as many as the terminal's
    width leaves room for beside the metrics; the title says how many more compare.csv holds."""
    from rich.console import Console

    console = console or Console()
    names, headers, cells = _cells(rows, columns)
    unbounded = console.options.update_width(10**6)  # a measurement is capped at the width it is given
    for n_keys in range(len(keys), -1, -1):
        hidden = set(keys[n_keys:])
        keep = [i for i, name in enumerate(names) if name not in hidden]
        title = f"{len(rows)} runs compared"
        if hidden:
            title += f" ({len(hidden)} more differing {'key' if len(hidden) == 1 else 'keys'} in compare.csv)"
        table = narrow_table([headers[i] for i in keep], [[line[i] for i in keep] for line in cells], title=title,
                             left=("run",))
        if console.measure(table, options=unbounded).maximum <= console.width:
            break
    console.print(table)


def _cells(rows: list[dict[str, Any]], columns: list[str]) -> tuple[list[str], list[str], list[list[str]]]:
    """Each shown column's name and header, and every row's cells, formatted once."""
    best = next((c for c in columns if c.startswith("best_") and c != "best_epoch"), None)
    names = [c for c in columns if not c.startswith(("final_train", "best_")) and c != "path"]
    headers = [{"wall_seconds": "seconds"}.get(c, c.removeprefix("final_")) for c in names]
    cells = [[short(row.get(c)) for c in names] for row in rows]
    if best is not None:
        names.insert(-1, best)
        headers.insert(-1, "best @epoch")
        for line, row in zip(cells, rows):
            line.insert(-1, f"{short(row.get(best))} @{row.get('best_epoch')}" if row.get(best) is not None else "")
    return names, headers, cells


def run(opts: Options) -> None:
    """Read every run, print the table, write compare.csv and compare.png into out=."""
    from minitrain.atomic import write_csv
    from minitrain.reports.figures import overlaid_curves

    folders = {f.resolve(): f for given in opts.dirs for f in run_dirs(given)}  # each run once
    names = short_names(list(folders))
    runs = [read_run(path, names[path]) for path in folders]
    keys = differing(runs)
    rows = [{**row(run, keys), "path": str(path)} for run, path in zip(runs, folders)]
    columns = list(dict.fromkeys(c for cells in rows for c in cells))
    print_table(rows, columns, keys)
    out = Path(opts.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "compare.csv"]
    write_csv(written[0], rows, columns)
    panels = curves(runs, keys)
    if panels:
        overlaid_curves(out / "compare.png", panels, "epoch", f"Validation curves of {len(runs)} runs")
        written.append(out / "compare.png")
    print(f"Wrote {', '.join(map(str, written))}")
