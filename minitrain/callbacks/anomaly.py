"""Autograd's anomaly mode for one fit: a NaN in the backward pass fails at the op that made it."""

from __future__ import annotations

import torch

from minitrain.events import Callback


class AnomalyCallback(Callback):
    """Turns `torch.autograd.detect_anomaly` on for the fit, and back to what it was afterwards."""

    def before_fit(self, learn) -> None:
        self.was_on = torch.is_anomaly_enabled()
        torch.autograd.set_detect_anomaly(True)

    def cleanup_fit(self, learn) -> None:
        torch.autograd.set_detect_anomaly(getattr(self, "was_on", False))
