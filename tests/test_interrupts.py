"""The first Ctrl-C always stops a run: the signal handler only sets a flag, and the run acts on it at the
next safe point, so a signal that lands in a garbage-collection callback is not lost."""

from __future__ import annotations

import gc
import os
import signal

import pytest
import torch

from minitrain import interrupts
from minitrain.callbacks import InterruptCallback
from minitrain.learner import Callback, DataLoaders, Learner


def test_a_ctrl_c_that_lands_in_a_garbage_collection_callback_still_stops_the_run():
    def signal_during_collection(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler right here, inside the gc callback

    with interrupts.graceful_interrupts():
        gc.callbacks.append(signal_during_collection)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(signal_during_collection)
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
        interrupts.check()  # acted on once: the flag is cleared


def test_sigterm_is_raised_as_terminated_so_the_run_exits_143():
    with interrupts.graceful_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(interrupts.Terminated):
            interrupts.check()


def test_the_previous_handlers_are_back_after_the_run():
    before = signal.getsignal(signal.SIGINT)
    with interrupts.graceful_interrupts():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


class SignalAtBatch(Callback):
    """Sends this process SIGINT while batch `at` trains; records the batches whose optimizer step ran."""

    def __init__(self, at: int) -> None:
        self.at, self.finished = at, []

    def after_loss(self, learn) -> None:
        if learn.training and learn.iter == self.at:
            os.kill(os.getpid(), signal.SIGINT)

    def after_step(self, learn) -> None:
        self.finished.append((learn.training, learn.iter))


def test_the_learner_stops_at_the_end_of_the_batch_the_signal_arrived_in():
    xs, ys = torch.randn(64, 4), torch.randint(0, 2, (64,))
    batches = [(xs[i : i + 8], ys[i : i + 8]) for i in range(0, 64, 8)]
    marker = SignalAtBatch(at=3)
    learn = Learner(torch.nn.Linear(4, 2), DataLoaders(batches, batches), torch.nn.functional.cross_entropy,
                    0.1, [InterruptCallback(), marker])
    with interrupts.graceful_interrupts(), pytest.raises(KeyboardInterrupt):
        learn.fit(2)
    assert marker.finished == [(True, 0), (True, 1), (True, 2), (True, 3)], "the interrupted batch did not take its step, or training went on"
    assert isinstance(learn.exception, KeyboardInterrupt)
