"""Change the learning rate every batch: one-cycle (warm up, then anneal) or cosine decay."""

from __future__ import annotations

import warnings

import torch

from minitrain.events import Callback, Order


class _BatchSchedule(Callback):
    """An lr schedule stepped after every optimizer step over the fit's batches, saved and restored with the run.

    Subclasses say which torch scheduler `make` builds from the optimizer's configured lrs (`self.peaks`).
    """

    order = Order.RECIPE  # before CHECKPOINT, whose restore replays the schedule's steps

    def __init__(self) -> None:
        self.scheduler = None

    def make(self, opt: torch.optim.Optimizer, total_steps: int):
        raise NotImplementedError

    def before_fit(self, learn) -> None:
        self.opt = learn.opt
        self.peaks = [g["lr"] for g in learn.opt.param_groups]  # the configured lr, before any schedule
        self.total_steps = max(1, learn.n_epochs * len(learn.dls.train))
        self.scheduler = self.make(learn.opt, self.total_steps)

    def after_step(self, learn) -> None:
        if self.scheduler.last_epoch < self.total_steps - 1:  # the last batch has its lr; a cosine would rise again
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {"steps": self.scheduler.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Rebuild the schedule for this fit's length and replay the steps already taken. With the same
        trainer.epochs this repeats the saved run exactly; with more (a resume that trains longer) the rest of
        the schedule is stretched over the new length instead of stopping at its old end."""
        for group, peak in zip(self.opt.param_groups, self.peaks):
            group["lr"] = peak
            group.pop("initial_lr", None)  # restored from the checkpoint; the new scheduler sets its own
        self.scheduler = self.make(self.opt, self.total_steps)
        with warnings.catch_warnings():  # "scheduler.step() before optimizer.step()": these steps are replays
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(min(state["steps"], self.total_steps)):
                self.after_step(None)


class OneCycleCallback(_BatchSchedule):
    """Leslie Smith's one-cycle policy (torch's OneCycleLR): warm up to the optimizer's lr, anneal to ~0.

    Momentum (or Adam's beta1) cycles the other way, as in fastai's fit_one_cycle.
    """

    def __init__(self, pct_start: float = 0.25, div_factor: float = 25.0, final_div_factor: float = 1e4) -> None:
        super().__init__()
        self.pct_start, self.div_factor, self.final_div_factor = pct_start, div_factor, final_div_factor

    def make(self, opt: torch.optim.Optimizer, total_steps: int):
        pct_start = self.pct_start
        if abs(pct_start * total_steps - 1) < 1e-9:  # torch divides by pct_start * total_steps - 1 (4 steps at 0.25)
            pct_start = 1.5 / total_steps if total_steps > 1 else 0.5
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=self.peaks, total_steps=total_steps, pct_start=pct_start,
            div_factor=self.div_factor, final_div_factor=self.final_div_factor,
        )


class CosineCallback(_BatchSchedule):
    """Cosine decay from the optimizer's lr to `eta_min_ratio` x lr, after a short linear warm-up."""

    def __init__(self, warmup_pct: float = 0.05, eta_min_ratio: float = 0.0) -> None:
        super().__init__()
        self.warmup_pct, self.eta_min_ratio = warmup_pct, eta_min_ratio

    def make(self, opt: torch.optim.Optimizer, total_steps: int):
        from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

        warmup = max(1, int(total_steps * self.warmup_pct))
        base = self.peaks[0]
        return SequentialLR(opt, [
            LinearLR(opt, start_factor=0.01, total_iters=warmup),
            CosineAnnealingLR(opt, T_max=max(1, total_steps - 1 - warmup), eta_min=base * self.eta_min_ratio),
        ], milestones=[warmup])
