"""Ctrl-C and SIGTERM: the first one stops the run at the next safe point, a second one exits at once.

The signal handler only sets a flag. Raising KeyboardInterrupt from inside the handler would land
wherever Python happens to be, and when that is a garbage-collection callback the exception is
printed ("Exception ignored in ...") and lost, so training went on. Instead `check()` raises it at
safe points: between batches (InterruptCallback) and between files or images while data is prepared.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: finish cleanly, then exit 143."""


_requested: int | None = None  # the signal received and not yet acted on


def check() -> None:
    """Raise KeyboardInterrupt (Terminated for SIGTERM) if a stop was requested since the last check."""
    global _requested
    if _requested is not None:
        signum, _requested = _requested, None
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Within this block the first SIGINT/SIGTERM asks `check()` to stop the run; a second one exits at once."""
    global _requested

    def exit_now(signum, frame):
        os._exit(128 + signum)

    def first(signum, frame):
        global _requested
        _requested = signum
        signal.signal(signal.SIGINT, exit_now)
        signal.signal(signal.SIGTERM, exit_now)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (e.g. a launcher running jobs in threads)
        return
    _requested = None
    previous = {s: signal.signal(s, first) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
