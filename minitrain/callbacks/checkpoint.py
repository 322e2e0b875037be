"""Save the run after every epoch (checkpoints/last.pt, best.pt) and restore it to resume."""

from __future__ import annotations

import logging
import pickle
import random
import shutil
import warnings
from pathlib import Path

import torch

from minitrain.distributed import unwrap
from minitrain.resume import resume_command, state_dict_mismatch
from minitrain.errors import CheckpointWriteError, ResumeError, WriteError
from minitrain.learner import Callback, Order
from minitrain.reports.files import write_atomic
from minitrain.runs import describe

log = logging.getLogger(__name__)


CHECKPOINT_KEYS = {"model", "optimizer", "epoch", "history", "rng"}  # what every minitrain checkpoint holds


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


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents, or a ResumeError saying why it cannot be used.

    Loaded as data only (`weights_only=True`: tensors, numbers, strings, lists, dicts): a file that would
    need more, such as a pickle planted to run code, is refused before anything in it runs.
    """
    try:
        with warnings.catch_warnings():  # "pickle protocol 4 ..." on a file torch did not write: we refuse it anyway
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ResumeError(f"{path} does not exist.") from None
    except pickle.UnpicklingError as e:
        code = "GLOBAL" in str(e)  # the file names a function or class to import: code, not data
        raise ResumeError(
            f"{path} is not a minitrain checkpoint: "
            + ("it asks to import and run code, which minitrain never does. " if code else
               "it is corrupt or unreadable as plain data (tensors, numbers, strings, lists, dicts). ")
            + "If checkpoints/best.pt in the same run is intact, copy it over last.pt to resume from the best epoch."
        ) from None
    except Exception as e:
        raise ResumeError(
            f"The checkpoint {path} is corrupt or unreadable ({type(e).__name__}: {e}). "
            f"If checkpoints/best.pt in the same run is intact, copy it over last.pt to resume from the best epoch."
        ) from None
    if not isinstance(state, dict) or not CHECKPOINT_KEYS <= state.keys():
        raise ResumeError(f"{path} is not a minitrain checkpoint: it lacks {', '.join(sorted(CHECKPOINT_KEYS))}.")
    return state


def qualified_name(cls: type) -> str:
    """`module.QualifiedName` of a class, as `_target_` names it."""
    return f"{cls.__module__}.{cls.__qualname__}"


class CheckpointCallback(Callback):
    """After each epoch: checkpoints/last.pt (everything needed to resume) and best.pt (the best epoch so far).

    Both are written atomically, so a kill at any moment leaves the old file or the new one.
    With `resume` (a run directory), `before_fit` restores model, optimizer, stateful callbacks, RNG states and
    history, and training continues at the next epoch.
    """

    order = Order.CHECKPOINT  # restore before the reporters read start_epoch; save once the row is complete

    def __init__(self, resume: str | None = None) -> None:
        self.resume_from = Path(resume) / "checkpoints" / "last.pt" if resume else None
        self.best: float | None = None
        self.config: dict | None = None  # the run's composed config as plain data; train() sets it

    def before_fit(self, learn) -> None:
        if self.resume_from is not None:
            self.restore(learn, load_checkpoint(self.resume_from))

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
        folder = learn.run_dir / "checkpoints"
        state = {
            "model": unwrap(learn.model).state_dict(),
            "optimizer": learn.opt.state_dict(),
            "optimizer_class": qualified_name(type(learn.opt)),  # a resume with another optimizer is refused, not half-loaded
            "callbacks": {key: cb.state_dict() for key, cb in stateful_callbacks(learn).items()},
            "epoch": learn.epoch + 1,
            "history": list(learn.history),
            "best": self.best,
            "rng": rng_states(),
            "describe": describe(self.config, learn.dls.data),  # config, classes, input format: eval, predict
        }
        try:
            write_atomic(folder / "last.pt", lambda f: torch.save(state, f), mode="wb")
            if improved:
                with open(folder / "last.pt", "rb") as last:
                    write_atomic(folder / "best.pt", lambda f: shutil.copyfileobj(last, f), mode="wb")
        except WriteError as e:
            after = (f"The previous checkpoint is intact. Free some space (or fix permissions), then resume with: "
                     f"{resume_command(learn.run_dir)}") if (folder / "last.pt").is_file() else \
                "No checkpoint has been saved, so there is nothing to resume: free some space, then start the run again."
            raise CheckpointWriteError(
                f"Could not write the checkpoint of epoch {learn.epoch + 1} in {folder}: {e.reason}. {after}"
            ) from None
