"""Act on a Ctrl-C or SIGTERM between batches, where stopping leaves every file consistent."""

from __future__ import annotations

from minitrain import interrupts
from minitrain.events import Callback, Order


class InterruptCallback(Callback):
    """Raises the KeyboardInterrupt that minitrain.interrupts' signal handler asked for, at the next batch edge."""

    order = Order.INTERRUPT

    def before_batch(self, learn) -> None:
        interrupts.check()

    def after_batch(self, learn) -> None:
        interrupts.check()
