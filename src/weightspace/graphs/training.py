"""Training of the graph models of this package (weight graphs, long range) on items (indices
into their graphs), with the package's fitting loop: shuffle -> forward/backward -> clip -> step,
the loss on the validation items after every epoch, and the weights of the best epoch restored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from weightspace.errors import ConfigError
from weightspace.fitting import FitSettings, fit

# a batch of item indices -> the model's loss on them (a scalar tensor)
LossFn = Callable[[nn.Module, np.ndarray], torch.Tensor]


@dataclass(frozen=True)
class FitConfig:
    epochs: int = field(default=60, metadata={"help": "training epochs"})
    batch_size: int = field(default=64, metadata={"help": "items per step"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    patience: int = field(default=20, metadata={"help": "epochs without a better val loss"})
    seed: int = field(default=0, metadata={"help": "init and shuffling seed"})

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        if not self.lr > 0:
            raise ConfigError("lr", "a positive learning rate", self.lr)


def fit_model(
    model: nn.Module, loss: LossFn, train: np.ndarray, val: np.ndarray, config: FitConfig
) -> list[dict[str, float]]:
    """Train ``model`` in place on items ``train``; keep the weights with the lowest val loss.

    The package's fitting loop (`weightspace.fitting.fit`) with AdamW, a gradient clip of 1 (deep
    recurrences spike early) and early stopping. Returns the history, one ``{"epoch", "train",
    "val"}`` per epoch.
    """
    rng = np.random.default_rng(config.seed)
    settings = FitSettings(
        epochs=config.epochs,
        lr=config.lr,
        weight_decay=config.weight_decay,
        optimizer="adamw",
        clip=1.0,
        patience=config.patience,
        monitor="val",
    )

    def batches(_epoch: int) -> list[np.ndarray]:
        order = rng.permutation(train)
        return [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]

    def validate(fitted: nn.Module) -> dict[str, float]:
        return {"val": evaluate_loss(fitted, loss, val, config.batch_size)}

    return fit(model, loss, batches, settings, validate).history


@torch.no_grad()
def evaluate_loss(model: nn.Module, loss: LossFn, items: np.ndarray, batch_size: int) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        total += float(loss(model, chunk)) * len(chunk)
    return total / max(len(items), 1)
