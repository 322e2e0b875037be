"""glibc's malloc gives every block larger than its mmap threshold (128 KiB at first, at most 32 MiB) back to the
kernel when it is freed, and trims the heap's free top. A training step frees and allocates the same activation
tensors, megabytes each at batch 512, over and over, so each step paid page faults to map and zero them again.
Keeping freed blocks up to 32 MiB in the heap made fashion_fast's epochs about 15% faster on 2 CPU cores
(benchmarks/RESULTS.md). Memory freed stays with the process for reuse, which is what a training run wants."""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers, from glibc's malloc.h
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: blocks up to 32 MiB come from the heap, and stay there once freed
TRIM_THRESHOLD = 2**30  # give the heap's free top back to the kernel only past 1 GiB
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")  # glibc's own variables: the user's choice


def keep_freed_memory(environ: dict[str, str] | None = None) -> bool:
    """Ask glibc's malloc to keep freed tensors for reuse; True when it was asked. Nothing is changed where malloc
    is not glibc's (macOS, Windows, musl) or where the user set glibc's variables."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
