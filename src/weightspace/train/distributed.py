"""Data-parallel set-up from the environment ``torchrun`` provides."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> bool:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); True if joined.

    Uses NCCL when every worker has a GPU, else gloo (CPU).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def reduction_device() -> torch.device:
    """Where a tensor must live for a collective of the current process group: NCCL reduces
    only CUDA tensors (a CPU tensor fails there), gloo only CPU ones."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
