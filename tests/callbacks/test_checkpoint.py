"""Restoring a checkpoint in Python (CheckpointCallback(resume=DIR)) into a model it does not fit says which
weights differ, in one line, and leaves the checkpoint as it was."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import CheckpointCallback, MetricsCallback
from minitrain.errors import ResumeError
from minitrain.learner import DataLoaders, Learner
from minitrain.tasks import TASKS


def fit(run_dir, classes: int, resume=None) -> Learner:
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 4, generator=g), torch.randint(0, 3, (4,), generator=g)) for _ in range(2)]
    learn = Learner(nn.Linear(4, classes), DataLoaders(batches, batches), F.cross_entropy, 0.1,
                    [MetricsCallback(), CheckpointCallback(resume=resume)], task=TASKS["classification"],
                    run_dir=run_dir)
    learn.fit(1)
    return learn


def test_a_checkpoint_of_another_model_is_refused_naming_the_weights_that_differ(tmp_path):
    fit(tmp_path / "first", classes=3)
    last = tmp_path / "first" / "checkpoints" / "last.pt"
    before = hashlib.sha256(last.read_bytes()).hexdigest()
    with pytest.raises(ResumeError) as refused:
        fit(tmp_path / "second", classes=5, resume=str(tmp_path / "first"))
    message = str(refused.value)
    assert "weight is 3x4 in the checkpoint, 5x4 here" in message and "\n" not in message
    assert hashlib.sha256(last.read_bytes()).hexdigest() == before
