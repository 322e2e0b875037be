"""Change the learning rate every batch: one-cycle (warm up, then anneal) or cosine decay."""

from __future__ import annotations

import torch

from minitrain.learner import Callback


class OneCycleCallback(Callback):
    """Leslie Smith's one-cycle policy (torch's OneCycleLR): warm up to the optimizer's lr, anneal to ~0.

    Momentum (or Adam's beta1) cycles the other way, as in fastai's fit_one_cycle.
    """

    order = 0

    def __init__(self, pct_start: float = 0.25, div_factor: float = 25.0, final_div_factor: float = 1e4) -> None:
        self.pct_start, self.div_factor, self.final_div_factor = pct_start, div_factor, final_div_factor
        self.scheduler = None

    def make(self, opt: torch.optim.Optimizer, total_steps: int):
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=total_steps, pct_start=self.pct_start,
            div_factor=self.div_factor, final_div_factor=self.final_div_factor,
        )

    def before_fit(self, learn) -> None:
        self.scheduler = self.make(learn.opt, max(1, learn.n_epochs * len(learn.dls.train)))

    def after_step(self, learn) -> None:
        if self.scheduler.last_epoch < self.scheduler.total_steps:
            self.scheduler.step()

    def state_dict(self) -> dict:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state)


class CosineCallback(OneCycleCallback):
    """Cosine decay from the optimizer's lr to `eta_min_ratio` x lr, after a short linear warm-up."""

    def __init__(self, warmup_pct: float = 0.05, eta_min_ratio: float = 0.0) -> None:
        super().__init__()
        self.warmup_pct, self.eta_min_ratio = warmup_pct, eta_min_ratio

    def make(self, opt: torch.optim.Optimizer, total_steps: int):
        from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

        warmup = max(1, int(total_steps * self.warmup_pct))
        base = opt.param_groups[0]["lr"]
        return SequentialLR(opt, [
            LinearLR(opt, start_factor=0.01, total_iters=warmup),
            CosineAnnealingLR(opt, T_max=max(1, total_steps - warmup), eta_min=base * self.eta_min_ratio),
        ], milestones=[warmup])

    def after_step(self, learn) -> None:
        self.scheduler.step()
