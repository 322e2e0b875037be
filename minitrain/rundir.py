"""A run directory belongs to one live run: a fresh default folder per run, and a lock while the run lives.

Two runs started in the same second would otherwise share `outputs/DATE/TIME`, and two runs given the
same `hydra.run.dir` (or two resumes of one run) would write into each other's files. The lock is an
`flock` on a small file in the directory, held until the process exits, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from minitrain.errors import OutputError

LOCK_FILE = ".minitrain.lock"
_held: dict[Path, int] = {}  # run directories this process has locked -> the open lock file (closed at exit)


def claim_fresh(path: Path) -> Path:
    """`path`, or `path_1`, `path_2`, ... if an earlier run has it: created here, atomically, so that two
    runs racing for the same default folder each get their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 0
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = path.with_name(f"{path.name}_{n}")


def lock(run_dir: Path) -> None:
    """Hold `run_dir`'s lock for the life of this process, or raise OutputError naming the run that holds it."""
    run_dir = run_dir.resolve()
    if run_dir in _held:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
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
