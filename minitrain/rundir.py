"""The run directory: where each of its files lives, finding a run, resuming one, and keeping it one run's own.

Layout (every path minitrain reads or writes in a run is named here):

    RUN/.hydra/overrides.yaml      the command line's overrides (Hydra writes it; `resume=RUN` reads it)
    RUN/.hydra/config.yaml         the run's composed config (Hydra writes it; `minitrain compare` reads it)
    RUN/checkpoints/last.pt        everything needed to resume; best.pt: the best epoch so far
    RUN/metrics.csv, summary.json, losses.png, samples.png, predictions.png, reconstructions/, minitrain.log
    RUN/eval/, predict/, export/   what `minitrain eval|predict|export run=RUN` write (eval split=train: eval_train/)

A run directory belongs to one live run: a fresh default folder per run, a lock while the run lives (an `flock`
held until the process exits, so a killed run leaves no stale lock), and a new run never starts in a folder that
holds an earlier one (it would replace its checkpoints and splice its metrics). A run refused before it trained
(its config or data) takes away the folders it made (`discard_unused`).
"""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import shlex
import shutil
from pathlib import Path
from typing import Any

import yaml

from minitrain.errors import OutputError, ResumeError, RunError
from minitrain.overrides import key_of, quoted, value_of, with_key, without_key

LOCK_FILE = ".minitrain.lock"
CHECKPOINTS = "checkpoints"
CHECKPOINT_CHOICES = ("best", "last")
SUMMARY = "summary.json"
METRICS = "metrics.csv"
LOG = "minitrain.log"
OVERRIDES = Path(".hydra") / "overrides.yaml"
CONFIG = Path(".hydra") / "config.yaml"
RUN_FILES = (CHECKPOINTS, METRICS, SUMMARY)  # what makes a folder hold a run
STARTUP_FILES = (OVERRIDES.parent.name, LOG, LOCK_FILE)  # what Hydra and the lock put in a run directory before training


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    """RUN/checkpoints/last.pt (or best.pt)."""
    return run_dir / CHECKPOINTS / f"{which}.pt"


def read_overrides(run_dir: Path) -> list[str] | None:
    """.hydra/overrides.yaml as the list of override strings it holds, or None when it is missing or not a list."""
    try:
        overrides = yaml.safe_load((run_dir / OVERRIDES).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return [str(o) for o in overrides] if isinstance(overrides, list) else None


def read_config(run_dir: Path) -> dict[str, Any] | None:
    """.hydra/config.yaml as plain data (never instantiated), or None when it is missing or not a mapping."""
    try:
        config = yaml.safe_load((run_dir / CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return config if isinstance(config, dict) else None


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as one dict per epoch (the cells that are numbers), or [] when it is missing or unreadable."""
    try:
        with (run_dir / METRICS).open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []
    return [{k: float(v) for k, v in row.items() if k and _is_number(v)} for row in rows]


def _is_number(text: str | None) -> bool:
    try:
        return text is not None and math.isfinite(float(text))
    except ValueError:
        return False


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json as a dict, or None when it is missing or not a JSON object."""
    try:
        summary = json.loads((run_dir / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def resume_command(run_dir: Path | str) -> str:
    """The command that continues `run_dir`, quoted so that it works when pasted into a shell."""
    return f"minitrain resume={shlex.quote(str(run_dir))}"


def holds_run(folder: Path) -> bool:
    """Whether `folder` holds a run's files (checkpoints, metrics or a summary)."""
    return any((folder / name).exists() for name in RUN_FILES)


def refuse_earlier_run(run_dir: Path) -> None:
    """An OutputError when a fresh run would start in a folder that already holds a run."""
    if holds_run(run_dir):
        raise OutputError(
            f"{run_dir} already holds a run; a new run there would replace its checkpoints and mix its metrics. "
            f"Continue it with: {resume_command(run_dir)} (or give this run its own hydra.run.dir=DIR).")


def job_dir(sweep_dir: Path, num: int) -> Path:
    """The folder of job `num` in a sweep directory (minitrain's hydra.sweep.subdir is the job's number)."""
    return sweep_dir / str(num)


def holds_jobs(sweep_dir: Path) -> bool:
    """Whether a sweep directory already holds jobs (numbered run folders) or a sweep report."""
    return (sweep_dir / "sweep.csv").exists() or any(
        child.is_dir() and holds_run(child) for child in sweep_dir.iterdir()) if sweep_dir.is_dir() else False


def refuse_earlier_sweep(sweep_dir: Path, resumable: bool = False) -> None:
    """An OutputError when a sweep would start in a folder that already holds an earlier sweep's jobs (`resumable`:
    the sweeper can continue it, hydra.sweeper.resume=true, and the message says so)."""
    if holds_jobs(sweep_dir):
        also = " (or continue that search: the same command with hydra.sweeper.resume=true)" if resumable else ""
        raise OutputError(f"{sweep_dir} already holds an earlier sweep's jobs; a new sweep there would mix them into "
                          f"its sweep.csv. Give this sweep its own hydra.sweep.dir=DIR{also}.")


def find_run(path: str | Path) -> Path:
    """`path` as a run directory (one with checkpoints/), or a RunError saying what it is instead. A checkpoint file
    in a run's checkpoints/ folder (`run=DIR/checkpoints/best.pt`) means its run."""
    run_dir = Path(path).expanduser().resolve()
    if run_dir.is_file() and run_dir.parent.name == CHECKPOINTS:
        run_dir = run_dir.parent.parent
    elif run_dir.is_file():
        raise RunError(f"run={run_dir} is a file, not a run directory. Give the run's folder, e.g. "
                       "run=outputs/2026-01-31/12-00-00, and a checkpoint file as checkpoint=FILE.")
    if not run_dir.is_dir():
        raise RunError(f"run={run_dir} does not exist. Give a run directory, e.g. run=outputs/2026-01-31/12-00-00.")
    if not (run_dir / CHECKPOINTS).is_dir():
        raise RunError(_no_checkpoints(run_dir))
    return run_dir


def _no_checkpoints(run_dir: Path) -> str:
    """Why `run_dir` has no checkpoints/ folder, and what to run instead."""
    summary, overrides = read_summary(run_dir) or {}, read_overrides(run_dir) or []
    done = summary.get("epochs_completed")
    if isinstance(done, int) and not isinstance(done, bool) and done > 0:
        fast = "debug=fast" in overrides
        why = ("debug=fast skips checkpoints" if fast else
               "its checkpoint callback was off: ~callbacks.checkpoint or callbacks.checkpoint=null")
        again = [o for o in overrides if key_of(o) not in ("debug", "callbacks.checkpoint", "hydra.run.dir")]
        again += ["trainer.epochs=1", "trainer.limit_batches=2"] if fast else []
        return (f"run={run_dir} trained {done} epoch(s) but saved no checkpoint ({why}); eval, predict and export "
                "need one. Train a run that saves them, e.g.: "
                f"{shlex.join(['minitrain', *again]) if again else 'minitrain trainer.epochs=1'}")
    what = "a run that ended before its first epoch" if (run_dir / ".hydra").is_dir() else "not a minitrain run"
    return (f"run={run_dir} is {what}: it has no {CHECKPOINTS}/ folder. Give the folder of a run that finished at "
            "least one epoch, e.g. run=outputs/2026-01-31/12-00-00.")


def checkpoint_file(run_dir: Path, which: str) -> Path:
    """checkpoints/best.pt or last.pt of `run_dir`, or the checkpoint file `which` names: a file in the run's
    checkpoints/ first, then a path (so `checkpoint=last.pt` never picks a ./last.pt of the current folder)."""
    folder = run_dir / CHECKPOINTS
    if which in CHECKPOINT_CHOICES:
        candidates = [checkpoint_path(run_dir, which)]
    else:
        candidates = [folder / which, Path(which).expanduser()]
    for path in candidates:
        if path.is_file():
            return path
    there = sorted(p.name for p in folder.glob("*.pt"))
    raise RunError(f"checkpoint={which} does not exist. {folder} holds: "
                   f"{', '.join(there) or 'nothing'}. Use checkpoint=best, checkpoint=last or a .pt file's path.")


def checkpoint_choice(run: str | Path, which: str | None) -> str:
    """The checkpoint to use: `which` (best, last or a .pt path), else the file `run` names
    (`run=DIR/checkpoints/last.pt`), else best; a RunError when `run` and `which` name two different files."""
    named = Path(run).expanduser().resolve()
    if not named.is_file():
        return which or "best"
    if which is not None and checkpoint_file(find_run(named), which).resolve() != named:
        raise RunError(f"run={run} names a checkpoint and checkpoint={which} another: give one of them "
                       f"(run={named.parent.parent} checkpoint={which}, or run={run} alone).")
    return str(named)


def report_dir(run_dir: Path, name: str) -> Path:
    """RUN/<name>/ (eval, predict, export), refused when it is a planted symbolic link."""
    folder = run_dir / name
    if folder.is_symlink():
        raise OutputError(f"{folder} is a symbolic link; minitrain does not write through links planted in a run "
                          "directory. Remove it, or write elsewhere with out=FOLDER.")
    return folder


def resume_argv(argv: list[str]) -> list[str]:
    """`argv` unchanged, or, when it holds `resume=DIR`, the arguments that continue that run.

    The run's saved overrides recompose its config, the overrides given now win over them (`trainer.epochs=8`
    to train longer), and `hydra.run.dir=DIR` keeps everything in the same run directory."""
    given = [a for a in with_key(argv, "resume") if not a.startswith("~")]
    if not given:
        return argv
    value = given[-1].split("=", 1)[1] if "=" in given[-1] else ""
    if value.strip() == "null":
        return argv  # Hydra's null: no resume, as in the config's default
    if not value.strip():
        raise ResumeError("resume= needs the run directory to continue, e.g. resume=outputs/2026-01-31/12-00-00.")
    if "-m" in argv or "--multirun" in argv:
        raise ResumeError("resume= continues one run; it cannot be combined with --multirun (-m).")
    run_dir = Path(value.strip("'\"")).expanduser().resolve()
    for other in (a for a in with_key(argv, "hydra.run.dir") if "=" in a):
        if Path(value_of(other)).expanduser().resolve() != run_dir:
            raise ResumeError(
                f"resume={run_dir} continues the run in its own directory; drop {other} "
                "(to branch off a run, copy its folder and resume the copy)."
            )
    overrides_file = run_dir / OVERRIDES
    if not overrides_file.is_file():
        raise ResumeError(
            f"resume={run_dir}: this is not a minitrain run directory (it has no {OVERRIDES}). "
            "Give the folder of an earlier run, e.g. resume=outputs/2026-01-31/12-00-00."
        )
    if not checkpoint_path(run_dir).is_file():
        raise ResumeError(
            f"resume={run_dir}: the run has no checkpoint yet ({CHECKPOINTS}/last.pt), so it stopped before its "
            "first epoch ended. Start it again instead of resuming."
        )
    try:
        saved = yaml.safe_load(overrides_file.read_text()) or []
    except (OSError, yaml.YAMLError) as e:
        raise ResumeError(f"resume={run_dir}: cannot read {overrides_file} ({e}).") from None
    if not isinstance(saved, list):
        raise ResumeError(f"resume={run_dir}: {overrides_file} is not a list of overrides.")
    new = without_key(argv, "resume", "hydra.run.dir")
    new_keys = {key_of(a) for a in new}  # `key=v`, `+key=v` and `~key` all replace what the run was started with
    kept = [o for o in map(str, saved) if key_of(o) not in new_keys | {"resume"}]
    return [*kept, *new, f"resume={quoted(str(run_dir))}", f"hydra.run.dir={quoted(str(run_dir))}"]
_held: dict[Path, int] = {}  # run directories this process has locked -> the open lock file (closed at exit)
_made: list[Path] = []  # folders this process created for a run or sweep directory, parents first


def make_dirs(path: Path) -> None:
    """`path` and any missing parents, created; those this process made are remembered for `discard_unused`."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:  # another run made it meanwhile: not ours to take away
            continue
        _made.append(folder.resolve())


def claim_fresh(path: Path) -> Path:
    """`path`, or `path_1`, `path_2`, ... if an earlier run has it: created here, atomically, so that two
    runs racing for the same default folder each get their own."""
    make_dirs(path.parent)
    candidate, n = path, 0
    while True:
        try:
            candidate.mkdir()
            _made.append(candidate.resolve())
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.name}_{n}")


def untouched(run_dir: Path) -> bool:
    """Whether `run_dir` is a folder holding nothing but what the start of a run put there (STARTUP_FILES)."""
    return run_dir.is_dir() and all(entry.name in STARTUP_FILES for entry in run_dir.iterdir())


def holds_epochs(run_dir: Path) -> bool:
    """Whether `run_dir` holds a trained epoch's files (checkpoints/ or metrics.csv)."""
    return any((run_dir / name).exists() for name in (CHECKPOINTS, METRICS))


def discard_unused(run_dir: Path) -> bool:
    """Remove `run_dir` (and the parents made with it, once empty) when this process created it and it holds no
    trained epoch: a run refused before it trained leaves no folder behind. A folder this process did not make is
    left as it is. True if removed."""
    folder = run_dir.absolute()
    if folder.is_symlink() or not folder.is_dir() or holds_epochs(folder) or folder.resolve() not in _made:
        return False
    made_parents = [p for p in reversed(_made) if p in folder.resolve().parents]  # deepest first
    shutil.rmtree(folder)  # never follows a link inside: rmtree unlinks links
    for parent in made_parents:
        try:
            parent.rmdir()  # only once empty: a date folder holding earlier runs stays
        except OSError:
            break
    return True


def lock(run_dir: Path) -> None:
    """Hold `run_dir`'s lock for the life of this process, or raise OutputError naming the run that holds it."""
    run_dir = run_dir.resolve()
    if run_dir in _held:
        return
    make_dirs(run_dir)
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise OutputError(
            f"{run_dir} is in use by a live minitrain run ({holder}). Two runs in one directory would "
            "overwrite each other's files: wait for it to end, or give this run its own hydra.run.dir=DIR."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
    _held[run_dir] = fd


def check_no_links(run_dir: Path, names: tuple[str, ...]) -> None:
    """Refuse a run directory where a file minitrain appends to is a symbolic link (it would write through it)."""
    for name in names:
        if (run_dir / name).is_symlink():
            raise OutputError(
                f"{run_dir / name} is a symbolic link; minitrain does not write through links planted in a run "
                "directory. Remove it, or choose another hydra.run.dir."
            )
