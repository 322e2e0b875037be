"""Pick the training device named by `device=auto|cpu|cuda|mps`, or say why it cannot be had."""

from __future__ import annotations

import torch

from minitrain.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` picks cuda, then mps, then cpu; naming a device that is not there is a ConfigError.

    Under torchrun each process takes the GPU numbered by its LOCAL_RANK.
    """
    has = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    if name == "auto":
        name = next(d for d in ("cuda", "mps", "cpu") if has[d])
    elif not has.get(name, False):
        raise ConfigError(
            f"device={name} was asked for, but this machine has no {name.upper()} device that PyTorch can use "
            f"(torch {torch.__version__}). Use device=auto to train on the best device available, or device=cpu."
        )
    return torch.device(name, local_rank) if name == "cuda" else torch.device(name)


def has_native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 natively: a CPU with AVX-512 or ARM's BF16 (through oneDNN), an NVIDIA
    GPU from Ampere on. Elsewhere PyTorch emulates it, usually more slowly than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN: nothing to say
            return True
    return True  # MPS and others: no check to ask
