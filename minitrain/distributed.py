"""Data-parallel training under `torchrun`: who this process is, the process group, and rank 0's privileges.

torchrun starts one process per device and sets RANK, WORLD_SIZE and LOCAL_RANK. Every process
composes the same config; only rank 0 gets a run directory and writes files (the others are
told so on their command line, before Hydra runs), batches are sharded by rank, gradients are
all-reduced by DistributedDataParallel, and metrics are summed across ranks before they are logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from minitrain.overrides import without_key


@dataclass(frozen=True)
class Rank:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def current() -> Rank:
    """The rank torchrun gave this process, from its environment."""
    env = os.environ
    return Rank(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def worker_argv(argv: list[str]) -> list[str]:
    """Command-line overrides for ranks above 0: no run directory, no .hydra folder, no log file."""
    if current().is_main:
        return argv
    kept = without_key(argv, "hydra.run.dir", "hydra.output_subdir")
    return [*kept, "hydra.run.dir=.", "hydra.output_subdir=null", "hydra/job_logging=disabled",
            "hydra/hydra_logging=disabled"]


def start(device) -> None:
    """Join the process group: NCCL between GPUs (each process on its own), gloo between CPU processes."""
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and any bare .cuda() call then use this process's GPU
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def stop(wait_for_all: bool = False) -> None:
    """Leave the process group; with `wait_for_all` (every rank finished normally), only once all ranks are here,
    so that none tears its connections down while rank 0 still writes its last files."""
    import torch.distributed as dist

    if dist.is_initialized():
        if wait_for_all:
            dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(*values):
    """Sum each tensor across ranks in place (no-op when not distributed); returns them."""
    import torch.distributed as dist

    if dist.is_initialized():
        for v in values:
            dist.all_reduce(v, op=dist.ReduceOp.SUM)
    return values


def unwrap(model):
    """The module inside DistributedDataParallel (or torch.compile), whose state_dict has plain keys."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)
