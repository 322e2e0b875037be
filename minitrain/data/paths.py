"""Refuse a data file that is not a regular file before opening it: a FIFO, a device or a socket blocks or never ends."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from minitrain.errors import DataError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def regular_file(path: Path) -> Path:
    """`path` when it is (or links to) a regular file; otherwise a DataError naming it and what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        broken = os.path.islink(path)
        raise DataError(f"{path} cannot be read ({'a link to nothing' if broken else e.strerror or e}); "
                        "replace it with the file it should be, or remove it.") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise DataError(f"{path} is {kind}, not a regular file: minitrain would wait on it forever. "
                        "Replace it with the file it should be, or remove it.")
    return path
