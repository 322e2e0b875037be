"""Restoring a checkpoint in Python (CheckpointCallback(resume=DIR)) into a model it does not fit says which
weights differ, in one line, and leaves the checkpoint as it was."""

from __future__ import annotations

import hashlib

import pytest
from torch import nn

from minitrain.callbacks import CheckpointCallback, MetricsCallback
from minitrain.errors import ResumeError
from minitrain.learner import Learner
from conftest import toy_fit


def fit(run_dir, classes: int, resume=None) -> Learner:
    return toy_fit(MetricsCallback(), CheckpointCallback(resume=resume), model=nn.Linear(4, classes), run_dir=run_dir)


def test_a_checkpoint_of_another_model_is_refused_naming_the_weights_that_differ(tmp_path):
    fit(tmp_path / "first", classes=3)
    last = tmp_path / "first" / "checkpoints" / "last.pt"
    before = hashlib.sha256(last.read_bytes()).hexdigest()
    with pytest.raises(ResumeError) as refused:
        fit(tmp_path / "second", classes=5, resume=str(tmp_path / "first"))
    message = str(refused.value)
    assert "weight is 3x4 in the checkpoint, 5x4 here" in message and "\n" not in message
    assert hashlib.sha256(last.read_bytes()).hexdigest() == before
