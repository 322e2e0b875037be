"""The per-batch learning-rate schedules: their shape, and what a checkpoint brings back on resume."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from minitrain.callbacks import CosineCallback, OneCycleCallback

PEAK, BATCHES = 0.1, 10


def fake_learner(epochs: int) -> SimpleNamespace:
    """What the schedules read from a Learner: the optimizer, the planned epochs and the batches per epoch."""
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=PEAK, momentum=0.9)
    return SimpleNamespace(opt=opt, n_epochs=epochs, dls=SimpleNamespace(train=range(BATCHES)))


def lrs_over(schedule, learn, steps: int) -> list[float]:
    """The lr each of `steps` batches trains with."""
    seen = []
    for _ in range(steps):
        seen.append(learn.opt.param_groups[0]["lr"])
        learn.opt.step()
        schedule.after_step(learn)
    return seen


def test_one_cycle_warms_up_to_the_configured_lr_then_anneals_to_almost_zero():
    learn, schedule = fake_learner(3), OneCycleCallback(pct_start=0.25)
    schedule.before_fit(learn)
    lrs = lrs_over(schedule, learn, 3 * BATCHES)
    peak_at = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(PEAK / 25)
    assert max(lrs) == pytest.approx(PEAK, rel=0.05) and 0 < peak_at < len(lrs) // 2
    assert all(a <= b for a, b in zip(lrs[:peak_at], lrs[1 : peak_at + 1]))
    assert all(a >= b for a, b in zip(lrs[peak_at:], lrs[peak_at + 1 :]))
    assert lrs[-1] < PEAK / 100


def test_cosine_decays_to_its_floor_and_stays_there_past_the_planned_end():
    learn, schedule = fake_learner(2), CosineCallback(warmup_pct=0.1, eta_min_ratio=0.1)
    schedule.before_fit(learn)
    lrs = lrs_over(schedule, learn, 2 * BATCHES + 5)
    assert lrs[0] == pytest.approx(PEAK * 0.01)
    assert max(lrs) == pytest.approx(PEAK, rel=0.05)
    assert lrs[-6:] == pytest.approx([PEAK * 0.1] * 6, rel=0.05)  # a cosine run on would rise again


@pytest.mark.parametrize("make", [OneCycleCallback, CosineCallback])
def test_a_restored_schedule_goes_on_exactly_where_the_saved_one_stopped(make):
    """Resume with the same trainer.epochs: the lrs after the checkpoint are those of an uninterrupted run."""
    learn, schedule = fake_learner(4), make()
    schedule.before_fit(learn)
    uninterrupted = lrs_over(schedule, learn, 4 * BATCHES)

    first, saved = fake_learner(4), make()
    saved.before_fit(first)
    lrs_over(saved, first, 2 * BATCHES)
    state, opt_state = saved.state_dict(), first.opt.state_dict()

    second, restored = fake_learner(4), make()
    restored.before_fit(second)
    second.opt.load_state_dict(opt_state)  # as the checkpoint callback does, before the schedule's state
    restored.load_state_dict(state)
    assert lrs_over(restored, second, 2 * BATCHES) == uninterrupted[2 * BATCHES :]


def test_resuming_with_more_epochs_stretches_the_one_cycle_over_the_new_length():
    """A 2-epoch run resumed with trainer.epochs=4 keeps annealing over epochs 3 and 4, instead of training
    them at the tiny final lr of the old schedule."""
    first, saved = fake_learner(2), OneCycleCallback()
    saved.before_fit(first)
    lrs_over(saved, first, 2 * BATCHES)
    assert first.opt.param_groups[0]["lr"] < PEAK / 100  # the short run ended annealed

    longer, restored = fake_learner(4), OneCycleCallback()
    restored.before_fit(longer)
    longer.opt.load_state_dict(first.opt.state_dict())
    restored.load_state_dict(saved.state_dict())
    lrs = lrs_over(restored, longer, 2 * BATCHES)
    assert lrs[0] > PEAK / 2  # the middle of the 4-epoch cycle, not its end
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] < PEAK / 100


@pytest.mark.parametrize("make", [OneCycleCallback, CosineCallback])
@pytest.mark.parametrize("total_steps", range(1, 13))
def test_a_very_short_fit_still_gets_a_schedule_that_peaks_at_the_configured_lr(make, total_steps):
    """Any number of steps works (torch's OneCycleLR divides by zero at 4 steps with pct_start=0.25)."""
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=PEAK, momentum=0.9)
    learn = SimpleNamespace(opt=opt, n_epochs=1, dls=SimpleNamespace(train=range(total_steps)))
    schedule = make()
    schedule.before_fit(learn)
    lrs = lrs_over(schedule, learn, total_steps)
    assert all(0 <= lr <= PEAK * 1.0001 for lr in lrs)  # both anneal to (almost) zero by design
    if total_steps >= 3:
        assert max(lrs) > PEAK / 3  # it warms up towards the peak, not stuck at the start


def test_cosine_carries_only_its_own_settings_not_one_cycles():
    cosine = CosineCallback(warmup_pct=0.1)
    assert not any(hasattr(cosine, key) for key in ("pct_start", "div_factor", "final_div_factor"))
    assert not isinstance(cosine, OneCycleCallback)
