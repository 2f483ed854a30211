"""Training checkpoints without pickles: tensors in safetensors, everything else in JSON.

A checkpoint directory holds ``state.safetensors`` (model and optimizer tensors) and
``state.json`` (optimizer hyperparameters, scheduler state, trainer counters, and the sha256 of
the tensors file). ``state.json`` is written last and atomically, so a checkpoint either exists
whole or not at all; a torn tensors file is caught by its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from pathlib import Path

import torch
from safetensors.torch import load, save
from torch import nn

from weightspace.errors import ConfigError, FileFormatError
from weightspace.zoo.storage import (
    atomic_write_bytes,
    atomic_write_json,
    check_output_dir,
    read_json,
    sweep_temporaries,
)

TENSORS, STATE = "state.safetensors", "state.json"


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    trainer: dict,
) -> None:
    """Write model, optimizer, scheduler and trainer state (JSON-able) under ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    optim = optimizer.state_dict()
    scalars: dict[str, dict] = {}
    for index, state in optim["state"].items():
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value.contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    data = save({k: v.cpu() for k, v in tensors.items()})
    atomic_write_bytes(path / TENSORS, data)
    atomic_write_json(
        path / STATE,
        {
            "tensors_sha256": hashlib.sha256(data).hexdigest(),
            "param_groups": optim["param_groups"],
            "optimizer_scalars": scalars,
            "scheduler": scheduler.state_dict(),
            "trainer": trainer,
        },
    )


def load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> dict:
    """Restore what `save_checkpoint` wrote; returns the trainer state."""
    meta = read_json(path / STATE, "training checkpoint")
    data = (path / TENSORS).read_bytes() if (path / TENSORS).is_file() else b""
    if hashlib.sha256(data).hexdigest() != meta.get("tensors_sha256"):
        raise FileFormatError(
            path / TENSORS, "missing or does not match state.json", "Delete the checkpoint folder"
        )
    tensors = load(data)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value  # load_state_dict places them
    for index, values in meta["optimizer_scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    return meta["trainer"]


def check_fit_output(
    out: Path,
    outputs: Collection[str],
    is_config: Callable[[dict], bool],
    config: str = "config.json",
) -> None:
    """``out`` is new, empty, or a run directory of `fit` (the ``outputs`` it writes and a
    ``checkpoint/`` to resume, whose ``config`` satisfies ``is_config``). A folder holding
    anything else is refused, so that no file of the user's is overwritten."""
    check_output_dir(out, "--out")
    if not out.is_dir() or not any(out.iterdir()):
        return
    checkpoint = out / "checkpoint"
    sweep_temporaries(out)  # what a killed run left half-written
    sweep_temporaries(checkpoint)
    names = {p.name for p in out.iterdir()}
    inner = {p.name for p in checkpoint.iterdir()} if checkpoint.is_dir() else set()
    ours = (
        names <= {*outputs, "checkpoint"}
        and (checkpoint.is_dir() or not checkpoint.exists())
        and inner <= {STATE, TENSORS}
        and (STATE in inner or names <= {"checkpoint"})  # outputs only beside a checkpoint
    )
    if ours and config in names:
        try:
            ours = is_config(read_json(out / config, "run config"))
        except FileFormatError:
            ours = False
    if not ours:
        shown = ", ".join(sorted(names)[:4]) + (", ..." if len(names) > 4 else "")
        raise ConfigError(
            "--out",
            "a new or empty directory, or a run directory of `weightspace fit` to resume",
            str(out),
            f"It holds other files ({shown}) that training would overwrite: choose another --out",
        )
