"""The story of one run: check the config, seed, load data, build the model and callbacks, fit (or find the lr)."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch.nn.parallel import DistributedDataParallel

from minitrain import distributed
from minitrain.allocator import keep_freed_memory
from minitrain.build import build, build_callbacks, build_model
from minitrain.checks import check_config, doubtful_settings
from minitrain.checkpoint import plain_config
from minitrain.data import build_loaders, load_image_data, shaped_config
from minitrain.data.debug import debug_loaders
from minitrain.device import resolve_device
from minitrain.forward import resolve_precision
from minitrain.learner import Learner
from minitrain.models.init import initialize_as_configured
from minitrain.tasks import TASKS, build_loss

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path | None, trial: Any = None) -> Learner:
    """Train as `cfg` says, writing into `run_dir`, reporting each epoch to `trial` when a search runs it (see
    minitrain.callbacks.trial); returns the fitted Learner."""
    check_config(cfg)
    for warning in doubtful_settings(cfg):
        log.warning(warning)
    keep_freed_memory()  # before the data and the first step allocate
    seed_everything(cfg.seed, deterministic=cfg.trainer.deterministic)
    rank = distributed.current()
    device = resolve_device(str(cfg.device), rank.local_rank)
    if rank.distributed:
        distributed.start(device)
    if str(cfg.trainer.precision) == "auto":
        log.info("trainer.precision=auto: %s on this %s", resolve_precision("auto", device).value, device.type.upper())
    task = TASKS[str(cfg.model.task)]
    data = load_image_data(cfg.dataset, seed=cfg.seed)  # the seed draws a held-out validation share (valid_pct)
    cfg = shaped_config(cfg, data)  # nulls (channels, image_size, num_classes, name) from the data, for the model
    dls = build_loaders(data, cfg.loader, task.target, device, cfg.seed, rank)
    dls = debug_loaders(dls, cfg.trainer.limit_batches, cfg.trainer.overfit_batches)
    model = build_model(cfg.model).to(device)
    initialize_as_configured(model, cfg.model, dls)  # model.init: default | kaiming | lsuv (on a training batch)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if rank.distributed:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        torch.manual_seed(cfg.seed + rank.rank)  # DDP gave every rank rank 0's weights; augmentation differs per rank
    if cfg.trainer.compile:
        model = torch.compile(model)
    # checkpoints carry the run's config, so eval and predict need nothing else
    callbacks = build_callbacks(cfg, device, run_config=plain_config(cfg), trial=trial if rank.is_main else None)
    learner = Learner(model, dls, build_loss(task, cfg.trainer.label_smoothing), cfg.optimizer.lr,
                      callbacks, build("optimizer", cfg.optimizer), task=task,
                      run_dir=run_dir if rank.is_main else None)  # only rank 0 writes the run directory
    finished = False
    try:
        if cfg.lr_find:  # sweep the learning rate instead of training: lr_find.png and lr_find.json
            learner.lr_find()
        else:
            learner.fit(cfg.trainer.epochs)
        finished = True
    finally:
        if rank.distributed:
            # DDP's reducer must not outlive its process group: freed at interpreter exit instead, it sometimes
            # aborted rank 1 ("terminate called without an active exception").
            learner.model = distributed.unwrap(learner.model)
            del model
        distributed.stop(wait_for_all=finished)
    return learner


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed every generator training uses, so that a CPU run repeats exactly; optionally forbid
    PyTorch's nondeterministic algorithms too (needed for exact repeats on GPUs)."""
    random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
