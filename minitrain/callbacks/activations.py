"""Activation statistics during training (`minitrain inspect=activations`): the course's ActivationStats.

Forward hooks on every conv and linear layer record, for each training batch: the histogram of |activation|
(drawn as the course's color_dim), the share of activations near zero (its dead_chart), their mean and their
standard deviation. When the fit ends, however it ends, every hook is removed, and activations_color_dim.png,
activations_dead.png, activations_stats.png and activations.json are written into the run directory.
"""

from __future__ import annotations

import logging
from functools import partial

import torch
from torch import nn

from minitrain.distributed import unwrap
from minitrain.hooks import Hook, Hooks, layers_of
from minitrain.events import Callback, Order
from minitrain.reports.activations import color_dim, dead_chart, stats_chart
from minitrain.atomic import write_json

log = logging.getLogger(__name__)


def per_epoch(table: torch.Tensor) -> dict[int, list[float]]:
    """{epoch: the histogram counts summed over that epoch's recorded batches} of one layer's table."""
    epochs = table[:, 0].long()
    return {int(e): table[epochs == e, 4:].sum(0).tolist() for e in epochs.unique()}
HOOKED = (nn.modules.conv._ConvNd, nn.Linear)  # the layers whose outputs are recorded


class ActivationStatsCallback(Callback):
    """Records each conv/linear layer's output statistics on every `every`-th training batch (see the module).

    The histogram has `bins` bins over |activation| in [0, max_value); "near zero" is the first bin's width,
    |a| < max_value / bins, counted against all of the layer's activations. Numbers stay on the device until
    the fit ends.
    """

    order = Order.PLOTS

    def __init__(self, bins: int = 40, max_value: float = 10.0, every: int = 1) -> None:
        self.bins, self.max_value, self.every = bins, max_value, max(1, every)
        self.hooks: Hooks = Hooks([], None)
        self.names: list[str] = []
        self.types: list[str] = []

    @property
    def near_zero(self) -> float:
        """The width of the first histogram bin: what counts as a dead (near-zero) activation."""
        return self.max_value / self.bins

    def before_fit(self, learn) -> None:
        layers = layers_of(unwrap(learn.model), HOOKED)
        self.names = [name or type(m).__name__ for name, m in layers]
        self.types = [type(m).__name__ for _, m in layers]
        self.seen, self.recording = 0, False
        self.hooks = Hooks([m for _, m in layers], partial(self._record, learn))
        for hook in self.hooks:
            hook.rows = []  # per recorded batch: epoch, mean, std, near-zero share, histogram (on the device)

    def before_batch(self, learn) -> None:
        if learn.training:
            self.recording = self.seen % self.every == 0
            self.seen += 1

    def cleanup_batch(self, learn) -> None:
        self.recording = False  # a forward pass outside the batch (pictures, TTA) is not a training batch

    def _record(self, learn, hook: Hook, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if not (self.recording and learn.training):
            return
        acts = output.detach().float()
        hook.rows.append((learn.epoch, acts.numel(), acts.mean(), acts.std(), self.histogram(acts)))

    def histogram(self, acts: torch.Tensor) -> torch.Tensor:
        """Counts of |acts| in `bins` equal bins over [0, max_value); larger values are not counted."""
        if acts.is_cuda:  # bincount would wait for the GPU to learn its output's size
            return acts.abs().histc(self.bins, 0, self.max_value)
        bins = (acts.abs() * (self.bins / self.max_value)).long().clamp_(max=self.bins)
        return torch.bincount(bins.flatten(), minlength=self.bins + 1)[: self.bins]  # on a CPU, twice histc's speed

    def cleanup_fit(self, learn) -> None:
        self.hooks.remove()  # first, whatever happened: a failed fit must not leave hooks on the model
        if learn.run_dir is None or not any(hook.rows for hook in self.hooks):
            return
        try:
            self.write(learn.run_dir)
        except Exception:
            if learn.exception is None:
                raise
            log.warning("Could not write the activation statistics of the failed fit", exc_info=True)

    def tables(self) -> list[torch.Tensor]:
        """Per layer, a (recorded batches x (4 + bins)) CPU tensor: epoch, mean, std, near-zero share, histogram."""
        return [self._table(hook.rows) for hook in self.hooks]

    def _table(self, rows: list[tuple]) -> torch.Tensor:
        if not rows:
            return torch.zeros(0, 4 + self.bins)
        epochs, sizes, means, stds, hists = zip(*rows)
        hists = torch.stack(hists).float().cpu()
        near_zero = hists[:, 0] / torch.tensor(sizes, dtype=torch.float32)  # the first bin is |a| < near_zero
        stats = torch.stack([torch.stack(means), torch.stack(stds)], dim=1).cpu()
        return torch.cat([torch.tensor(epochs, dtype=torch.float32)[:, None], stats, near_zero[:, None], hists], dim=1)

    def write(self, run_dir) -> None:
        """The three figures and activations.json, from what was recorded."""
        tables = self.tables()
        means, stds, dead = ([t[:, k].tolist() for t in tables] for k in (1, 2, 3))
        color_dim(run_dir / "activations_color_dim.png", self.names, [t[:, 4:].numpy() for t in tables], self.max_value)
        dead_chart(run_dir / "activations_dead.png", self.names, dead, self.near_zero)
        stats_chart(run_dir / "activations_stats.png", self.names, means, stds)
        write_json(run_dir / "activations.json", {
            "bins": self.bins, "max_value": self.max_value, "near_zero": self.near_zero, "every": self.every,
            "layers": [{"name": name, "type": kind, "epoch": t[:, 0].long().tolist(), "mean": m, "std": s,
                        "near_zero_share": d, "histogram_per_epoch": per_epoch(t)}
                       for name, kind, m, s, d, t in zip(self.names, self.types, means, stds, dead, tables)],
        })
        log.info("Wrote the activation statistics of %d layers to %s", len(self.names), run_dir / "activations.json")
