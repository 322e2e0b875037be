"""The story of one run: check the config, seed, load data, build the model and callbacks, fit."""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from torch.nn.parallel import DistributedDataParallel

from minitrain import distributed
from minitrain.callbacks import AutocastCallback, DeviceCallback, DivergenceCallback, MetricsCallback
from minitrain.callbacks.device import resolve_device
from minitrain.data import build_loaders, load_image_data
from minitrain.errors import ConfigError
from minitrain.learner import Callback, Learner
from minitrain.tasks import TASKS


def train(cfg: DictConfig, run_dir: Path | None) -> Learner:
    """Train as `cfg` says, writing into `run_dir`; returns the fitted Learner."""
    check_config(cfg)
    seed_everything(cfg.seed, deterministic=cfg.trainer.deterministic)
    rank = distributed.current()
    device = resolve_device(str(cfg.device), rank.local_rank)
    if rank.distributed:
        distributed.start(device.type)
    task = TASKS[str(cfg.model.task)]
    data = load_image_data(cfg.dataset)
    dls = build_loaders(data, cfg.loader, task.target, device, cfg.seed, rank)
    model = build_model(cfg.model).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if rank.distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.trainer.compile:
        model = torch.compile(model)
    core = [DeviceCallback(device, channels_last=cfg.trainer.channels_last), MetricsCallback(task.metrics),
            DivergenceCallback()]
    if cfg.trainer.precision == "bf16":
        core.append(AutocastCallback(torch.bfloat16))
    schedule = [build("scheduler", cfg.scheduler)] if cfg.scheduler._target_ else []
    callbacks = [*core, *schedule, *build_callbacks(cfg.callbacks)]
    run_dir = run_dir if rank.is_main else None  # only rank 0 writes the run directory
    learner = Learner(model, dls, task.loss, build("optimizer", cfg.optimizer), callbacks, run_dir=run_dir)
    try:
        learner.fit(cfg.trainer.epochs)
    finally:
        distributed.stop()
    return learner


def check_config(cfg: DictConfig) -> None:
    """Values that compose but cannot train: say which key and what would work."""
    problems = []
    if cfg.trainer.epochs < 1:
        problems.append(f"trainer.epochs={cfg.trainer.epochs} must be at least 1")
    if cfg.loader.batch_size < 1:
        problems.append(f"loader.batch_size={cfg.loader.batch_size} must be at least 1")
    if cfg.loader.valid_batch_size is not None and cfg.loader.valid_batch_size < 1:
        problems.append(f"loader.valid_batch_size={cfg.loader.valid_batch_size} must be at least 1 (or null)")
    if not cfg.optimizer.lr > 0:
        problems.append(f"optimizer.lr={cfg.optimizer.lr} must be a positive number, e.g. optimizer.lr=0.1")
    if cfg.trainer.precision not in ("fp32", "bf16"):
        hint = " (fp16 needs loss scaling, which minitrain does not do; bf16 needs none)" if cfg.trainer.precision == "fp16" else ""
        problems.append(f"trainer.precision={cfg.trainer.precision} must be fp32 or bf16{hint}")
    if str(cfg.loader.on_device).lower() not in ("auto", "true", "false"):
        problems.append(f"loader.on_device={cfg.loader.on_device} must be auto, true or false")
    most_workers = max(4, 2 * (os.cpu_count() or 1))
    if not 0 <= cfg.loader.num_workers <= most_workers:
        problems.append(
            f"loader.num_workers={cfg.loader.num_workers} must be between 0 and {most_workers} "
            f"(this machine has {os.cpu_count()} cores; 0 loads batches in the main process)"
        )
    if problems:
        raise ConfigError("Invalid config: " + "; ".join(problems) + ".")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed every generator training uses, so that a CPU run repeats exactly; optionally forbid
    PyTorch's nondeterministic algorithms too (needed for exact repeats on GPUs)."""
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def build(what: str, node):
    """Instantiate a config node, turning Hydra's instantiation errors into a ConfigError naming the key."""
    try:
        return instantiate(node)
    except InstantiationException as e:
        raise ConfigError(f"Cannot build {what} from its config ({node.get('_target_')}): {e}") from None


def build_model(cfg: DictConfig) -> nn.Module:
    """The model named by `cfg._target_`, built from every key except `task`."""
    node = OmegaConf.to_container(cfg, resolve=True)
    node.pop("task", None)
    return build("model", node)


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """The callbacks named in the `callbacks` mapping (an entry set to null is skipped)."""
    callbacks = []
    for name, node in cfg.items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(
                f"callbacks.{name} has no _target_: give the class to build, e.g. "
                f"+callbacks.{name}._target_=mypkg.MyCallback"
            )
        callbacks.append(build(f"callbacks.{name}", node))
    return callbacks
