"""Write files so that a crash, a kill or a full disk never leaves a torn one behind, and never through a link.

Every file minitrain writes goes through `write_atomic`: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from minitrain.errors import OutputError, WriteError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600


def write_atomic(path: Path, write: Callable[[IO], None], mode: str = "w") -> None:
    """Write through a temporary file in the same folder, then rename: readers see the old file or the new one.

    A write that fails (a full disk, a permission) removes its temporary file and raises WriteError,
    leaving the file it was to replace as it was. A symbolic link where the file should be is refused
    (OutputError): someone who planted it wants the write to land elsewhere.
    """
    refuse_link(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX)
    except OSError as e:
        raise WriteError(path, _reason(e, path.parent)) from None
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        reason = _reason(e, path.parent)  # before the temporary file goes: a full disk is still full now
        Path(tmp).unlink(missing_ok=True)
        if reason is None:
            raise
        raise WriteError(path, reason) from None


TEMP_SUFFIX = ".tmp"


def refuse_link(path: Path) -> None:
    """An OutputError when `path` is a symbolic link: minitrain never writes through one."""
    if path.is_symlink():
        raise OutputError(f"{path} is a symbolic link; minitrain does not write through links (one planted in a "
                          "run directory would send the write elsewhere). Remove the link, or write somewhere else.")


# How torch.save's C++ zip writer reports a short write: it drops the OS error (ENOSPC) on the way
_TORCH_WRITE_FAILURES = ("write", "unexpected pos", "PytorchStreamWriter")


def _reason(error: BaseException, folder: Path) -> str | None:
    """Why a write failed, in words; None for an error that is not about writing (a bug, an interrupt)."""
    if isinstance(error, OSError):
        return "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    if isinstance(error, RuntimeError) and any(s in str(error) for s in _TORCH_WRITE_FAILURES):
        if shutil.disk_usage(folder).free < 1 << 20:
            return "the disk is full"
        return f"the write failed ({' '.join(str(error).split())[:200]})"
    return None


def remove_stale_temp_files(folder: Path) -> None:
    """Delete temporary files that write_atomic left behind in `folder` when its process was killed mid-write.

    Their names carry the writer's process id, so a file a live process is still writing is left alone.
    """
    for tmp in folder.glob(f".*{TEMP_SUFFIX}"):
        parts = tmp.name.split(".")  # "", name..., pid, random + ".tmp"
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        if pid is None or _alive(pid):
            continue
        tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_atomic(path, lambda f: f.write(json.dumps(data, indent=2, default=str) + "\n"))


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # "-0.5", "+1e-3": a spreadsheet's number, no formula


def csv_cell(value: Any) -> Any:
    """`value` as a CSV cell that a spreadsheet shows rather than runs: a string starting like a formula
    (`=HYPERLINK(...)`, a class or file name someone chose) gets a leading apostrophe, as OWASP's CSV-injection advice
    says. Numbers, and strings that are just a number ("-0.5"), are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: list[str]) -> None:
    """A CSV with a header and one line per row; missing values are left empty, formula-like strings escaped."""

    def write(f: IO) -> None:
        out = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        # With "\n" lines, csv quotes a cell holding "\n" but not one holding "\r", which readers take for a line
        # end: a row with a CR anywhere is written fully quoted (the rest keep csv's minimal quoting, as before).
        quoted = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n", quoting=csv.QUOTE_ALL)
        out.writeheader()
        for row in rows:
            cells = {key: csv_cell(value) for key, value in row.items()}
            has_cr = any(isinstance(v, str) and "\r" in v for v in cells.values())
            (quoted if has_cr else out).writerow(cells)

    write_atomic(path, write)
