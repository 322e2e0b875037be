"""Send a run to the trackers people already use: TensorBoard, MLflow, Weights & Biases (the `logger` group).

Each logger is a Learner callback that writes on rank 0 only (`learn.run_dir` is None elsewhere) and
imports its tool when built, so a missing optional extra fails before training with the pip command.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import torch
import yaml

from minitrain import rundir
from minitrain.callbacks.files import status_of
from minitrain.errors import ConfigError
from minitrain.events import Callback, Order

class MissingExtraError(ConfigError):
    """A logger was asked for whose optional package is not installed."""


def require(module: str, extra: str, package: str | None = None) -> Any:
    """Import `module`, or stop with the pip command that installs minitrain's optional `extra` (= the logger's name)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f'logger={extra} needs {package or extra}, which is not installed: pip install "minitrain[{extra}]"'
        ) from None


def run_config(run_dir: Path) -> dict:
    """The run's config as Hydra recorded it (<run dir>/.hydra/config.yaml), or {} outside the CLI."""
    path = run_dir / ".hydra" / "config.yaml"
    return yaml.safe_load(path.read_text()) or {} if path.is_file() else {}


def run_name(run_dir: Path) -> str:
    """The job's command-line overrides (what tells the jobs of a sweep apart), else the run directory's name."""
    return " ".join(o for o in rundir.read_overrides(run_dir) or [] if not o.startswith("hydra.")) or run_dir.name


def flatten(config: dict, prefix: str = "") -> dict[str, str | int | float | bool]:
    """{"trainer": {"epochs": 5}} -> {"trainer.epochs": 5}; lists and None become strings."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return flat


def figures(run_dir: Path) -> list[Path]:
    """The run directory's PNG files, sorted (reconstructions/epoch_001.png, ..., losses.png, ...)."""
    return sorted(run_dir.rglob("*.png"))


class TrackerCallback(Callback):
    """What every tracker needs: per-batch training loss and learning rate, gathered on the device and read
    once per pass; the finished epoch's row; and a place to close the run however the fit ended."""

    order = Order.LOGGERS

    active = False  # True once the tracker's run has started (on rank 0, when start() went through)

    def before_fit(self, learn) -> None:
        self.batch_losses: list[torch.Tensor] = []
        self.lrs: list[float] = []
        self.active = False
        if learn.run_dir is not None:  # rank 0 only
            self.start(learn)
            self.active = True

    def after_batch(self, learn) -> None:
        if learn.training and self.active:
            self.batch_losses.append(learn.loss.detach().float())
            self.lrs.append(learn.opt.param_groups[0]["lr"])

    def after_epoch(self, learn) -> None:
        if not self.active:
            return
        if learn.training:
            losses = torch.stack(self.batch_losses).cpu().tolist() if self.batch_losses else []
            self.log_batches(learn.epoch * len(losses), losses, self.lrs)
            self.batch_losses, self.lrs = [], []
        elif learn.history:
            row = learn.history[-1]
            self.log_epoch(row["epoch"], {k: v for k, v in row.items() if k != "epoch"})

    def cleanup_fit(self, learn) -> None:
        if self.active:
            self.active = False
            self.finish(learn, status_of(learn.exception))

    # What each tracker does with it:
    def start(self, learn) -> None: ...
    def log_batches(self, first: int, losses: list[float], lrs: list[float]) -> None: ...
    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def finish(self, learn, status: str) -> None: ...


class TensorBoardLogger(TrackerCallback):
    """Event files in <run dir>/`subdir`: per-epoch metrics (x: epoch), the per-batch training loss and
    learning rate (x: batch), the run's PNG figures as images and the config as hyper-parameters."""

    def __init__(self, subdir: str = "tensorboard") -> None:
        self.subdir = subdir
        self.tb = require("torch.utils.tensorboard", "tensorboard")

    def start(self, learn) -> None:
        self.writer = self.tb.SummaryWriter(log_dir=str(learn.run_dir / self.subdir))
        config = run_config(learn.run_dir)
        if config:
            self.writer.add_text("config", "```\n" + yaml.safe_dump(config, sort_keys=False) + "```")
        self.hparams = flatten(config)

    def log_batches(self, first: int, losses: list[float], lrs: list[float]) -> None:
        for i, (loss, lr) in enumerate(zip(losses, lrs)):
            self.writer.add_scalar("batch/train_loss", loss, first + i + 1)
            self.writer.add_scalar("batch/lr", lr, first + i + 1)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(f"epoch/{name}", value, epoch)
        self.writer.flush()  # a TensorBoard already open shows the epoch now
        self.last = metrics

    def finish(self, learn, status: str) -> None:
        import numpy as np
        from PIL import Image

        for path in figures(learn.run_dir):
            image = np.asarray(Image.open(path).convert("RGB"))
            self.writer.add_image(path.relative_to(learn.run_dir).with_suffix("").as_posix(), image,
                                  len(learn.history), dataformats="HWC")
        if self.hparams:  # in this run's own event file, so TensorBoard's HParams tab pairs them with its scalars
            from torch.utils.tensorboard.summary import hparams

            metrics = {f"epoch/{k}": v for k, v in getattr(self, "last", {}).items()}
            for summary in hparams(self.hparams, metrics):
                self.writer.file_writer.add_summary(summary)
        self.writer.close()


class MLflowLogger(TrackerCallback):
    """One MLflow run per job in `experiment_name`: the flattened config as params, per-epoch metrics
    (step: epoch) and, at the end, the run directory's PNGs, metrics.csv and summary.json as artifacts."""

    def __init__(self, tracking_uri: str = "sqlite:///outputs/mlflow.db", experiment_name: str = "minitrain",
                 artifact_location: str | None = "outputs/mlartifacts") -> None:
        self.mlflow = require("mlflow", "mlflow")
        if tracking_uri.startswith("sqlite:"):  # mlflow-skinny runs without them, until it opens a SQLite store
            for module in ("sqlalchemy", "alembic"):
                require(module, "mlflow", f"{module} for its sqlite:// store")
        for name in ("mlflow", "alembic"):  # their INFO lines (creating tables, ...) are not the run's news
            logging.getLogger(name).setLevel(logging.WARNING)
        self.tracking_uri, self.experiment_name = tracking_uri, experiment_name
        self.artifact_location = artifact_location

    def start(self, learn) -> None:
        if self.tracking_uri.startswith("sqlite:///"):  # SQLite makes the file, not its folder
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.client = self.mlflow.tracking.MlflowClient(self.tracking_uri)
        experiment_id = self.experiment_id()
        run = self.client.create_run(experiment_id, run_name=run_name(learn.run_dir),
                                     tags={"minitrain.run_dir": str(learn.run_dir.resolve())})
        self.run_id = run.info.run_id
        params = [self.mlflow.entities.Param(k, str(v)) for k, v in flatten(run_config(learn.run_dir)).items()]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per call
            self.client.log_batch(self.run_id, params=params[i : i + 100])

    def experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment_name)
        if found is not None:
            return found.experiment_id
        location = Path(self.artifact_location).resolve().as_uri() if self.artifact_location else None
        try:
            return self.client.create_experiment(self.experiment_name, artifact_location=location)
        except self.mlflow.exceptions.MlflowException:  # another job of the sweep created it meanwhile
            return self.client.get_experiment_by_name(self.experiment_name).experiment_id

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        metrics = [self.mlflow.entities.Metric(k, float(v), 0, epoch) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, learn, status: str) -> None:
        for path in [*figures(learn.run_dir), learn.run_dir / rundir.METRICS, learn.run_dir / rundir.SUMMARY]:
            if path.is_file():
                folder = path.parent.relative_to(learn.run_dir).as_posix()
                self.client.log_artifact(self.run_id, str(path), None if folder == "." else folder)
        ended = {"completed": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
        self.client.set_terminated(self.run_id, ended)


class WandbLogger(TrackerCallback):
    """A Weights & Biases run in <run dir>/wandb/, offline by default: the config, per-batch loss and
    learning rate, per-epoch metrics and the run's PNGs. `wandb sync` uploads it later."""

    def __init__(self, project: str = "minitrain", mode: str = "offline") -> None:
        self.wandb = require("wandb", "wandb")
        self.project, self.mode = project, mode

    def start(self, learn) -> None:
        self.run = self.wandb.init(project=self.project, mode=self.mode, dir=str(learn.run_dir),
                                   name=run_name(learn.run_dir), config=run_config(learn.run_dir), reinit=True)
        self.run.define_metric("epoch/*", step_metric="epoch")

    def log_batches(self, first: int, losses: list[float], lrs: list[float]) -> None:
        for i, (loss, lr) in enumerate(zip(losses, lrs)):
            self.run.log({"batch/train_loss": loss, "batch/lr": lr, "batch": first + i + 1})

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log({**{f"epoch/{k}": v for k, v in metrics.items()}, "epoch": epoch})

    def finish(self, learn, status: str) -> None:
        images = {p.relative_to(learn.run_dir).with_suffix("").as_posix(): self.wandb.Image(str(p))
                  for p in figures(learn.run_dir)}
        if images:
            self.run.log(images)
        self.run.finish(exit_code=0 if status == "completed" else 1)
