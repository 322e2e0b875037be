"""Save the run after every epoch (checkpoints/last.pt, best.pt) and restore it to resume."""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from minitrain import checkpoint, rundir
from minitrain.atomic import write_atomic
from minitrain.checkpoint import describe, qualified_name, state_dict_mismatch
from minitrain.distributed import unwrap
from minitrain.errors import CheckpointWriteError, ResumeError, WriteError
from minitrain.events import Callback, Order

log = logging.getLogger(__name__)


def rng_states() -> dict:
    states = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def stateful_callbacks(learn) -> dict:
    """Callbacks that carry training state (e.g. an LR scheduler), by class name and position."""
    return {f"{i}:{type(cb).__name__}": cb for i, cb in enumerate(learn.cbs) if hasattr(cb, "state_dict")}


class CheckpointCallback(Callback):
    """After each epoch: checkpoints/last.pt (everything needed to resume) and best.pt (the best epoch so far).

    Both are written atomically, so a kill at any moment leaves the old file or the new one.
    With `resume` (a run directory), `before_fit` restores model, optimizer, stateful callbacks, RNG states and
    history, and training continues at the next epoch.
    """

    order = Order.CHECKPOINT  # restore before the reporters read start_epoch; save once the row is complete

    def __init__(self, resume: str | None = None, run_config: dict[str, Any] | None = None) -> None:
        self.resume_from = rundir.checkpoint_path(Path(resume)) if resume else None
        self.best: float | None = None
        self.run_config = run_config  # the run's composed config as plain data, stored in every checkpoint

    def before_fit(self, learn) -> None:
        if self.resume_from is not None:
            self.restore(learn, checkpoint.read(self.resume_from))

    def restore(self, learn, state: dict) -> None:
        model = unwrap(learn.model)
        if mismatch := state_dict_mismatch(model.state_dict(), state.get("model", {})):
            source = f" {self.resume_from}" if self.resume_from else ""
            raise ResumeError(f"The checkpoint{source} does not fit this run's model ({mismatch}). "
                              "Resume with the overrides the run was started with.")
        try:
            model.load_state_dict(state["model"])
            learn.opt.load_state_dict(state["optimizer"])
            for key, cb in stateful_callbacks(learn).items():
                if key in state.get("callbacks", {}):
                    cb.load_state_dict(state["callbacks"][key])
            learn.history[:] = state["history"]
            learn.start_epoch = state["epoch"]
            self.best = state.get("best")
            set_rng_states(state["rng"])
        except (KeyError, RuntimeError, ValueError) as e:
            reason = " ".join(str(e).split())  # torch's messages span lines; the user's error stays on one
            raise ResumeError(
                f"The checkpoint {self.resume_from} does not fit this run's model or optimizer "
                f"({reason[:300]}{'...' if len(reason) > 300 else ''}). Resume with the overrides the run was started with."
            ) from None
        log.info("Resumed from %s after epoch %d", self.resume_from, state["epoch"])

    def after_epoch(self, learn) -> None:
        if learn.training or learn.run_dir is None or not learn.history:
            return
        row, spec = learn.history[-1], learn.task
        value = row.get(spec.monitor) if spec is not None else None
        improved = value is not None and spec.is_better(value, self.best)
        if improved:
            self.best = value
        last, best = rundir.checkpoint_path(learn.run_dir), rundir.checkpoint_path(learn.run_dir, "best")
        state = {
            "model": unwrap(learn.model).state_dict(),
            "optimizer": learn.opt.state_dict(),
            "optimizer_class": qualified_name(type(learn.opt)),  # a resume with another optimizer is refused, not half-loaded
            "callbacks": {key: cb.state_dict() for key, cb in stateful_callbacks(learn).items()},
            "epoch": learn.epoch + 1,
            "history": list(learn.history),
            "best": self.best,
            "rng": rng_states(),
            "describe": describe(self.run_config, learn.dls.data),  # config, classes, input format: eval, predict
        }
        try:
            checkpoint.write(last, state)
            if improved:
                with open(last, "rb") as saved:
                    write_atomic(best, lambda f: shutil.copyfileobj(saved, f), mode="wb")
        except WriteError as e:
            after = (f"The previous checkpoint is intact. Free some space (or fix permissions), then resume with: "
                     f"{rundir.resume_command(learn.run_dir)}") if last.is_file() else \
                "No checkpoint has been saved, so there is nothing to resume: free some space, then start the run again."
            raise CheckpointWriteError(
                f"Could not write the checkpoint of epoch {learn.epoch + 1} in {last.parent}: {e.reason}. {after}"
            ) from None
