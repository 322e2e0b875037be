"""The learning-rate finder: an exponentially growing lr, training batches only, a stop when the loss explodes,
a plot and a suggestion in the run directory; and `minitrain lr_find=true` end to end."""

from __future__ import annotations

import json
import math
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minitrain.callbacks import LRFinderCallback
from minitrain.callbacks.lr_find import drawn_part, suggest_lr
from minitrain.learner import Callback, DataLoaders, Learner


class CountBatches(Callback):
    def __init__(self) -> None:
        self.batches = {True: 0, False: 0}

    def before_batch(self, learn):
        self.batches[learn.training] += 1


def find(run_dir=None, n_batches: int = 20, **options) -> tuple[LRFinderCallback, CountBatches]:
    """The finder on a linear regression, whose loss explodes once the lr passes ~1."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 1, generator=g)
    batches = [(x, x @ w) for x in (torch.randn(16, 8, generator=g) for _ in range(n_batches))]
    torch.manual_seed(0)
    finder, counter = LRFinderCallback(**options), CountBatches()
    learn = Learner(nn.Linear(8, 1), DataLoaders(batches, batches), F.mse_loss, 0.1,
                    [finder, counter], run_dir=run_dir)
    learn.fit(1)
    return finder, counter


def test_the_lr_grows_exponentially_from_start_lr_batch_by_batch():
    finder, _ = find(start_lr=1e-6, end_lr=1e-2, num_iter=50)
    assert finder.lrs[0] == pytest.approx(1e-6)
    ratios = [b / a for a, b in zip(finder.lrs, finder.lrs[1:])]
    assert ratios == pytest.approx([1e4 ** (1 / 49)] * len(ratios))


def test_without_an_explosion_it_runs_num_iter_training_batches_across_epochs_and_no_validation():
    finder, counter = find(n_batches=20, start_lr=1e-6, end_lr=1e-3, num_iter=50)
    assert counter.batches == {True: 50, False: 0}
    assert finder.lrs[-1] == pytest.approx(1e-3)


def test_it_stops_as_soon_as_the_smoothed_loss_exceeds_four_times_its_minimum():
    finder, counter = find(num_iter=200)
    assert counter.batches[True] < 200 and finder.lrs[-1] < 10
    assert finder.smoothed[-1] > 4 * min(finder.smoothed[:-1]) or not math.isfinite(finder.smoothed[-1])
    assert all(s <= 4 * min(finder.smoothed[: i + 1]) for i, s in enumerate(finder.smoothed[:-1]))


def test_it_writes_lr_find_png_and_json_with_a_suggestion_below_the_explosion(tmp_path, fakes):
    finder, _ = find(tmp_path, num_iter=200)
    assert fakes.is_png(tmp_path / "lr_find.png")
    result = json.loads((tmp_path / "lr_find.json").read_text())
    assert 1e-7 < result["suggested_lr"] < finder.lrs[-1]
    assert result["suggested_lr"] == finder.result["suggested_lr"]
    assert len(result["lrs"]) == len(result["losses"]) == result["batches"]


def test_the_suggestion_is_the_safer_of_the_steepest_descent_and_a_tenth_of_the_minimum():
    lrs = [10 ** (k / 4) for k in range(-28, 5)]  # 1e-7 .. 10
    losses = [2.0 if lr < 1e-4 else 2.0 - 0.5 * math.log10(lr / 1e-4) if lr <= 1e-1 else 0.5 + 10 * lr for lr in lrs]
    result = suggest_lr(lrs, losses)
    assert result["min_loss_lr"] == pytest.approx(1e-1)
    assert 1e-4 <= result["steepest_lr"] < 1e-1
    assert result["suggested_lr"] == min(result["steepest_lr"], result["min_loss_lr"] / 10)


def test_a_noise_dip_on_a_flat_start_is_not_taken_for_the_minimum():
    # momentum SGD's curve: flat within noise (an early dip lowest of all) until shortly before it explodes
    lrs = [10 ** (k / 8) for k in range(-56, 9)]  # 1e-7 .. 10
    wiggle = [0.002 * math.sin(7 * k) for k in range(len(lrs))]
    losses = [2.30 + w if lr < 0.5 else 2.30 + 3 * (lr - 0.5) for lr, w in zip(lrs, wiggle)]
    losses[3] = 2.295  # the dip the old rule called the minimum (it suggested ~1e-7)
    result = suggest_lr(lrs, losses)
    assert result["steepest_lr"] is None  # the loss never fell
    assert 0.2 < result["min_loss_lr"] < 0.5 and result["suggested_lr"] == pytest.approx(result["min_loss_lr"] / 10)


def test_the_steepest_descent_is_looked_for_only_once_the_loss_has_started_to_fall():
    lrs = [10 ** (k / 8) for k in range(-56, 9)]
    losses = [2.30 if lr < 1e-2 else 2.30 - 0.8 * math.log10(lr / 1e-2) if lr <= 0.3 else 1.1 + 5 * (lr - 0.3)
              for lr in lrs]
    losses[1], losses[2] = 2.25, 2.35  # a noisy start, steeper than anything later over a few points
    result = suggest_lr(lrs, losses)
    assert 1e-2 <= result["steepest_lr"] <= 0.3
    assert result["suggested_lr"] >= 3e-3


def test_the_plot_leaves_out_the_explosion_so_that_the_fall_sets_the_y_axis():
    # today's default run: 2.30 falling to 1.97, rising to 2.11, then one smoothed loss of 34 (a real curve's shape)
    losses = [2.30, 2.30, 2.29, 2.25, 2.10, 1.97, 2.00, 2.07, 2.11, 2.31, 34.3]
    assert drawn_part(losses) == 9  # up to 2.11: the rise stays in, until it passes the start's 2.30


def test_the_plot_keeps_a_curve_that_never_explodes_whole():
    assert drawn_part([2.3, 2.1, 1.5, 1.2, 1.25]) == 5
    assert drawn_part([2.3, 2.3, 2.3]) == 3


def test_minitrain_lr_find_writes_the_plot_and_the_suggestion_and_trains_no_checkpoint(tmp_path, dataset_dirs, fakes,
                                                                                       run_cli):
    run_dir = tmp_path / "run"
    proc = run_cli(tmp_path, "lr_find=true", "model=cnn", "loader.batch_size=16", "callbacks.images.n_images=12",
                   f"dataset.path={dataset_dirs['idx']}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fakes.is_png(run_dir / "lr_find.png")
    result = json.loads((run_dir / "lr_find.json").read_text())
    assert result["batches"] < 150  # the loss exploded before the lr reached 10
    assert f"suggested optimizer.lr={result['suggested_lr']:.3g}" in proc.stderr
    assert not (run_dir / "checkpoints").exists()
    assert json.loads((run_dir / "summary.json").read_text())["epochs_completed"] == 0
