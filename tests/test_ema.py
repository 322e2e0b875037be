"""trainer.ema: an exponential moving average of the weights, validated, saved, evaluated and resumed exactly."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY, completed, read_csv, toy_fit
from minitrain.callbacks import MetricsCallback
from minitrain.callbacks.ema import EMACallback
from minitrain.events import Callback, Order


class WeightRecorder(Callback):
    """The model's weights after every optimizer step, and at the start of every training batch."""

    order = Order.RECIPE + 1

    def __init__(self) -> None:
        self.after_steps: list[torch.Tensor] = []
        self.before_batches: list[torch.Tensor] = []

    def flat(self, learn) -> torch.Tensor:
        return torch.cat([p.detach().flatten().clone() for p in learn.model.parameters()])

    def before_batch(self, learn) -> None:
        if learn.training:
            self.before_batches.append(self.flat(learn))

    def after_step(self, learn) -> None:
        self.after_steps.append(self.flat(learn))


def test_the_model_ends_holding_the_average_of_every_step_of_training():
    recorder = WeightRecorder()
    learn = toy_fit(EMACallback(0.9), recorder, epochs=3, train_sizes=(4, 4, 4))
    start = recorder.before_batches[0]
    average = start.clone()
    for n, w in enumerate(recorder.after_steps, start=1):
        d = min(0.9, (1 + n) / (10 + n))
        average = d * average + (1 - d) * w
    final = torch.cat([p.detach().flatten() for p in learn.model.parameters()])
    assert len(recorder.after_steps) == 9
    torch.testing.assert_close(final, average)
    assert not torch.allclose(final, recorder.after_steps[-1])  # the average, not the last training weights


def test_training_continues_from_the_training_weights_not_from_the_average():
    recorder = WeightRecorder()
    toy_fit(EMACallback(0.9), recorder, epochs=2, train_sizes=(4, 4))
    # epoch 2's first batch starts where epoch 1's last step left the weights
    torch.testing.assert_close(recorder.before_batches[2], recorder.after_steps[1])


def test_validation_measures_the_averaged_weights():
    learn = toy_fit(EMACallback(0.8), MetricsCallback(), epochs=2, train_sizes=(8, 8))
    inputs = torch.cat([x for x, _ in learn.dls.valid])
    targets = torch.cat([y for _, y in learn.dls.valid])
    with torch.no_grad():
        loss = F.cross_entropy(learn.model(inputs), targets).item()
    assert learn.history[-1]["valid_loss"] == pytest.approx(loss, rel=1e-5)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match="between 0 and 1"):
        EMACallback(decay)


def test_the_config_refuses_a_decay_outside_zero_to_one_in_one_line(run_cli, tmp_path, dataset_dirs):
    result = run_cli(tmp_path, *TINY, f"dataset.path={dataset_dirs['idx']}", "trainer.ema=1.5")
    assert result.returncode == 2
    assert "trainer.ema=1.5 is the average's decay" in result.stderr
    assert "Traceback" not in result.stderr


EMA_RUN = [*TINY, "trainer.ema=0.9", "scheduler=none", "seed=3", "~callbacks.images",
           "~callbacks.loss_plot"]


@pytest.fixture(scope="module")
def ema_runs(tmp_path_factory, dataset_dirs, run_cli_many, run_cli):
    """Two epochs with an EMA straight through, and one epoch then resumed to two."""
    base = tmp_path_factory.mktemp("ema")
    data = f"dataset.path={dataset_dirs['idx']}"
    runs = {name: (base / name, [*EMA_RUN, data, f"trainer.epochs={epochs}", f"hydra.run.dir={base / name / 'run'}"], {})
            for name, epochs in (("whole", 2), ("first", 1))}
    for name, proc in run_cli_many(runs).items():
        completed((base / name / "run", proc))
    completed((base / "first" / "run", run_cli(base / "resume", f"resume={base / 'first' / 'run'}", "trainer.epochs=2")))
    return base / "whole" / "run", base / "first" / "run"


def test_a_resumed_ema_run_ends_exactly_where_the_uninterrupted_one_ends(ema_runs):
    whole, resumed = ema_runs
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert strip(read_csv(resumed / "metrics.csv")[1]) == strip(read_csv(whole / "metrics.csv")[1])
    a, b = (torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True) for run in ema_runs)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    (ema_a,), (ema_b,) = ([v for k, v in s["callbacks"].items() if k.endswith(":EMACallback")] for s in (a, b))
    assert ema_a["updates"] == ema_b["updates"] > 0
    for x, y in zip(ema_a["training_weights"], ema_b["training_weights"]):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_eval_of_an_ema_run_measures_the_averaged_weights_it_validated(ema_runs, run_cli, tmp_path):
    whole, _ = ema_runs
    result = run_cli(tmp_path, "eval", f"run={whole}", "checkpoint=last", f"out={tmp_path / 'eval'}")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    last_epoch = read_csv(whole / "metrics.csv")[1][-1]
    assert report["valid_accuracy"] == pytest.approx(float(last_epoch["valid_accuracy"]), abs=1e-6)
    assert report["valid_loss"] == pytest.approx(float(last_epoch["valid_loss"]), rel=1e-4)
