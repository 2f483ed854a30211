"""One small training loop for the graph models of this package (weight graphs, long range).

The model holds no optimizer; this loop does: shuffle -> forward/backward -> clip -> step, the
loss on the validation items after every epoch, and the weights of the best epoch restored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from weightspace.errors import ConfigError

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

    Returns the history, one ``{"epoch", "train", "val"}`` per epoch.
    """
    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), config.lr, weight_decay=config.weight_decay)
    best, best_epoch, best_state = float("inf"), 0, copy.deepcopy(model.state_dict())
    history = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(train)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            value = loss(model, order[start : start + config.batch_size])
            value.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # deep recurrences spike early
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += value.item() * len(order[start : start + config.batch_size])
        val_loss = evaluate_loss(model, loss, val, config.batch_size)
        history.append({"epoch": epoch, "train": total / len(order), "val": val_loss})
        if val_loss < best:
            best, best_epoch, best_state = val_loss, epoch, copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return history


@torch.no_grad()
def evaluate_loss(model: nn.Module, loss: LossFn, items: np.ndarray, batch_size: int) -> float:
    model.eval()
    total = 0.0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        total += float(loss(model, chunk)) * len(chunk)
    return total / max(len(items), 1)
