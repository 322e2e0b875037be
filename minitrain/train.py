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
from minitrain.callbacks import (AutocastCallback, CheckpointCallback, DeviceCallback, DivergenceCallback,
                                 FlipTTACallback, GradClipCallback, InterruptCallback, LRFinderCallback,
                                 MetricsCallback)
from minitrain.callbacks.device import resolve_device
from minitrain.data import build_loaders, load_image_data
from minitrain.checks import check_config
from minitrain.errors import ConfigError
from minitrain.learner import Callback, Learner
from minitrain.runs import plain_config
from minitrain.tasks import TASKS, build_loss


def train(cfg: DictConfig, run_dir: Path | None) -> Learner:
    """Train as `cfg` says, writing into `run_dir`; returns the fitted Learner."""
    check_config(cfg)
    seed_everything(cfg.seed, deterministic=cfg.trainer.deterministic)
    rank = distributed.current()
    device = resolve_device(str(cfg.device), rank.local_rank)
    if rank.distributed:
        distributed.start(device)
    task = TASKS[str(cfg.model.task)]
    data = load_image_data(cfg.dataset)
    dls = build_loaders(data, cfg.loader, task.target, device, cfg.seed, rank)
    model = build_model(cfg.model).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if rank.distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        torch.manual_seed(cfg.seed + rank.rank)  # DDP gave every rank rank 0's weights; augmentation differs per rank
    if cfg.trainer.compile:
        model = torch.compile(model)
    core = [InterruptCallback(), DeviceCallback(device, channels_last=cfg.trainer.channels_last), MetricsCallback(task.metrics),
            DivergenceCallback(), *recipe_callbacks(cfg)]
    if cfg.trainer.precision == "bf16":
        core.append(AutocastCallback(torch.bfloat16))
    if cfg.lr_find:  # sweep the learning rate instead of training: no schedule, nothing to checkpoint
        others = [cb for cb in build_callbacks(cfg.callbacks) if not isinstance(cb, CheckpointCallback)]
        callbacks = [*core, LRFinderCallback(), *others]
    else:
        schedule = [build("scheduler", cfg.scheduler)] if cfg.scheduler._target_ else []
        callbacks = [*core, *schedule, *build_callbacks(cfg.callbacks)]
    for cb in callbacks:
        if isinstance(cb, CheckpointCallback):
            cb.config = plain_config(cfg)  # checkpoints carry their config, so eval and predict need nothing else
    run_dir = run_dir if rank.is_main else None  # only rank 0 writes the run directory
    loss = build_loss(task, cfg.trainer.label_smoothing)
    learner = Learner(model, dls, loss, build("optimizer", cfg.optimizer), callbacks, run_dir=run_dir)
    try:
        learner.fit(cfg.trainer.epochs)
    finally:
        distributed.stop()
    return learner


def recipe_callbacks(cfg: DictConfig) -> list[Callback]:
    """The recipe's optional callbacks: batch augmentation, gradient clipping, flipped test-time averaging."""
    callbacks = [build("augment", cfg.augment)] if cfg.augment._target_ else []
    if cfg.trainer.grad_clip is not None:
        callbacks.append(GradClipCallback(cfg.trainer.grad_clip))
    if cfg.trainer.tta_flip:
        callbacks.append(FlipTTACallback(str(cfg.model.task)))
    return callbacks


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
        callback = build(f"callbacks.{name}", node)
        if not isinstance(callback, Callback) and not any(e.startswith(("before_", "after_", "cleanup_")) for e in dir(callback)):
            raise ConfigError(
                f"callbacks.{name} built a {type(callback).__name__}, which answers no Learner event: give a class "
                "with methods such as after_epoch(self, learn) (see minitrain.learner.Callback)."
            )
        callbacks.append(callback)
    return callbacks
