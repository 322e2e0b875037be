"""The learning-rate finder (`minitrain lr_find=true`, `learn.lr_find()`): train with an exponentially growing
learning rate until the loss explodes, then plot loss against learning rate and suggest one."""

from __future__ import annotations

import logging
import math

from minitrain.events import Callback, CancelEpochException, CancelFitException, Order
from minitrain.reports.figures import curves
from minitrain.atomic import write_json

log = logging.getLogger(__name__)


def finite_or_none(values: list[float]) -> list[float | None]:
    """JSON has no NaN or infinity: those become null."""
    return [v if math.isfinite(v) else None for v in values]


def suggest_lr(lrs: list[float], losses: list[float], tolerance: float = 0.001, min_drop: float = 0.02
               ) -> dict[str, float | None]:
    """Two readings of a smoothed loss-vs-lr curve, robust to a long flat start (momentum SGD's curve can stay
    level, within noise, until it explodes, so that its lowest point is a noise dip among the first batches):

    - the minimum: the largest lr at which the loss is still within `tolerance` (relative) of its lowest value,
      both read after the first tenth of the points (the smoothing's warm-up, when its average holds few losses);
    - the steepest descent: where the loss falls fastest (the slope per log-lr over a tenth of the points, so
      that noise between neighbours does not count), looked for only once the loss has started to fall (10% of
      its whole drop), and only when it falls by `min_drop` (relative) at all.

    The suggestion is the smaller of the steepest descent and a tenth of the minimum's lr: the safer one.
    """
    width = max(1, len(losses) // 10)
    skip = width if len(losses) > 3 * width else 0
    lowest = min(losses[skip:])
    best = max(i for i in range(skip, len(losses)) if losses[i] <= lowest + tolerance * abs(lowest))
    plateau = sorted(losses[:width])[width // 2]  # the median of the start: a flat start's level, noise aside
    drop = plateau - lowest
    steepest = None
    if drop > min_drop * abs(plateau):
        falling = next(i for i, loss in enumerate(losses) if loss <= plateau - 0.1 * drop)
        slopes = {i + width // 2: (losses[i + width] - losses[i]) / math.log(lrs[i + width] / lrs[i])
                  for i in range(max(0, falling - width), min(best, len(losses) - 1) - width + 1)}
        steepest = lrs[min(slopes, key=slopes.__getitem__)] if slopes else None
    min_over_10 = lrs[best] / 10
    suggested = min(steepest, min_over_10) if steepest is not None else min_over_10
    return {"suggested_lr": suggested, "steepest_lr": steepest, "min_loss_lr": lrs[best],
            "min_loss_lr_over_10": min_over_10}


def drawn_part(losses: list[float]) -> int:
    """How many points of the curve lr_find.png draws: those up to the last one, past the lowest loss, that is
    no higher than the highest loss before it. The points after it are the explosion, which would set the
    y-axis (a last loss of 30 squeezes a fall from 2.3 to 1.9 into a flat line); fastai's plot skips them too."""
    lowest = min(range(len(losses)), key=losses.__getitem__)
    ceiling = max(losses[: lowest + 1])
    end = lowest + 1
    while end < len(losses) and losses[end] <= ceiling:
        end += 1
    return end


class LRFinderCallback(Callback):
    """Sets the lr of batch i to start_lr * (end_lr / start_lr) ** (i / (num_iter - 1)), records the loss, and
    stops the fit when the smoothed loss is NaN or above `stop_factor` x its minimum, or after `num_iter` batches.

    The course's form (`LRFinderCallback.course(gamma, max_mult, start_lr, max_epochs)`, as the course's
    LRFinderCB and lr_find) sets start_lr * gamma ** i instead, and stops when the batch's own loss is NaN or
    above max_mult x the lowest so far, or after max_epochs epochs.

    Validation passes are skipped, and as many epochs as `num_iter` batches need (or max_epochs) are run. When
    the fit ends, lr_find.png (smoothed loss against lr, log x) and lr_find.json (the suggestion and the curve)
    are written.
    """

    order = Order.LR_FINDER

    def __init__(self, start_lr: float = 1e-7, end_lr: float = 10.0, num_iter: int = 150, stop_factor: float = 4.0,
                 beta: float = 0.98, *, gamma: float | None = None, max_epochs: int | None = None) -> None:
        self.start_lr, self.end_lr, self.num_iter = start_lr, end_lr, num_iter
        self.stop_factor, self.beta = stop_factor, beta
        self.gamma, self.max_epochs = gamma, max_epochs
        self.result: dict | None = None

    @classmethod
    def course(cls, gamma: float = 1.3, max_mult: float = 3.0, start_lr: float = 1e-5, max_epochs: int = 10,
               **options) -> LRFinderCallback:
        """The course's finder: the lr grows by `gamma` per batch from `start_lr`, the fit stops once a batch's
        loss exceeds `max_mult` x the lowest so far, or after `max_epochs` epochs."""
        return cls(start_lr, stop_factor=max_mult, gamma=gamma, max_epochs=max_epochs, **options)

    def lr_at(self, i: int) -> float:
        """The lr of the i-th batch (from 0)."""
        if self.gamma is not None:
            return self.start_lr * self.gamma ** i
        return self.start_lr * (self.end_lr / self.start_lr) ** (i / max(1, self.num_iter - 1))

    def before_fit(self, learn) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.average = 0.0
        learn.n_epochs = self.epochs_for(learn)

    def epochs_for(self, learn) -> int:
        """The fit's `n_epochs`: max_epochs past start_epoch, or as many epochs as num_iter batches need."""
        epochs = self.max_epochs if self.gamma is not None else math.ceil(self.num_iter / max(1, len(learn.dls.train)))
        return learn.start_epoch + epochs

    def before_epoch(self, learn) -> None:
        if not learn.training:
            raise CancelEpochException()

    def before_batch(self, learn) -> None:
        for group in learn.opt.param_groups:
            group["lr"] = self.lr_at(len(self.lrs))

    def after_loss(self, learn) -> None:
        loss = learn.loss.item()
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta ** (len(self.lrs) + 1))  # bias-corrected, as in Adam
        self.lrs.append(learn.opt.param_groups[0]["lr"])
        self.losses.append(loss)
        self.smoothed.append(smoothed)
        watched = self.losses if self.gamma is not None else self.smoothed  # the course watches the raw loss
        if not math.isfinite(watched[-1]) or watched[-1] > self.stop_factor * min(watched):
            raise CancelFitException()

    def after_batch(self, learn) -> None:
        if self.gamma is None and len(self.lrs) >= self.num_iter:
            raise CancelFitException()

    def cleanup_fit(self, learn) -> None:
        finite = [i for i, s in enumerate(self.smoothed) if math.isfinite(s)]
        if len(finite) < 2:
            return
        lrs, smoothed = [self.lrs[i] for i in finite], [self.smoothed[i] for i in finite]
        self.result = {**suggest_lr(lrs, smoothed), "batches": len(self.lrs), "lrs": self.lrs,
                       "losses": finite_or_none(self.losses), "smoothed_losses": finite_or_none(self.smoothed)}
        steepest = self.result["steepest_lr"]
        log.info("LR finder: suggested optimizer.lr=%.3g (steepest descent at %s, minimum loss at %.3g) "
                 "after %d batches", self.result["suggested_lr"], f"{steepest:.3g}" if steepest else "none",
                 self.result["min_loss_lr"], len(self.lrs))
        if learn.run_dir is None:
            return
        n = drawn_part(smoothed)
        cut = len(smoothed) - n
        note = f"\n(not drawn: the explosion, {cut} point{'s' * (cut > 1)} past lr {lrs[n - 1]:.2g})" if cut else ""
        curves(learn.run_dir / "lr_find.png", lrs[:n], {"smoothed training loss": smoothed[:n]}, "learning rate", "loss",
               title=f"LR finder: suggested lr {self.result['suggested_lr']:.2g}{note}", logx=True,
               marks={f"suggested {self.result['suggested_lr']:.2g}": self.result["suggested_lr"]},
               legend="lower left")  # the curve starts high on the left and falls on the right
        write_json(learn.run_dir / "lr_find.json", self.result)
        log.info("Wrote %s and %s", learn.run_dir / "lr_find.png", learn.run_dir / "lr_find.json")
