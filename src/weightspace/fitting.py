"""One small supervised fitting loop, for every network of the package that trains on its own
targets: the weight-graph encoders and long-range graph models (`weightspace.graphs`), the
power-grid baselines (`weightspace.powergrid`) and fine-tuning of generated networks
(`weightspace.generate`).

The loop owns the optimizer (Adam, or AdamW with decoupled weight decay), gradient clipping,
validation every few epochs, early stopping after ``patience`` validations without a better
score, the restore of the best validated weights, and the device check. What differs between
its users is passed in: how the epoch's batches are drawn and how a batch's loss is computed.

(The hyper-representations train with their own `weightspace.train.Trainer` -- views,
contrastive loss, OneCycle, checkpoints to resume -- and the zoo's per-model reference
`weightspace.zoo.reference.train_alone` stays a plain loop on purpose: it is what the
population trainer is checked against.)
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from weightspace.devices import resolve_device
from weightspace.errors import ConfigError

OPTIMIZERS = ("adam", "adamw")


@dataclass(frozen=True)
class FitSettings:
    """How `fit` trains: ``optimizer`` "adam" (weight decay as an L2 term, `torch.optim.Adam`)
    or "adamw" (decoupled); ``clip``: the gradient-norm clip (None: none); ``patience``: stop
    after this many validations without a better ``monitor`` score (None: never);
    ``validate_every``: epochs between validations (the last epoch is always validated)."""

    epochs: int
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    clip: float | None = None
    patience: int | None = None
    validate_every: int = 1
    monitor: str = "loss"
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("epochs", "validate_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, "an integer >= 1", value)
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            raise ConfigError("patience", "an integer >= 1, or none", self.patience)
        if not self.lr > 0:
            raise ConfigError("lr", "a positive learning rate", self.lr)
        if not self.weight_decay >= 0:
            raise ConfigError("weight_decay", "a number >= 0", self.weight_decay)
        if self.clip is not None and not self.clip > 0:
            raise ConfigError("clip", "a positive gradient-norm clip, or none", self.clip)
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError("optimizer", f"one of {', '.join(OPTIMIZERS)}", self.optimizer)


@dataclass
class Fitted:
    """What `fit` did: one entry per epoch (``epoch``, ``train`` = the mean training loss per
    item, and the validation metrics on validated epochs), the restored epoch, the time."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def best(self) -> dict[str, float]:
        """The history entry of the restored epoch ({} when nothing was validated)."""
        return next((h for h in self.history if h["epoch"] == self.best_epoch), {})


def fit(
    model: nn.Module,
    loss: Callable[[nn.Module, Any], torch.Tensor],
    batches: Callable[[int], Iterable[Any]],
    settings: FitSettings,
    validate: Callable[[nn.Module], dict[str, float]] | None = None,
    size: Callable[[Any], int] = len,
    after_epoch: Callable[[nn.Module, dict[str, float]], None] | None = None,
) -> Fitted:
    """Train ``model`` in place: for each epoch, ``loss(model, batch)`` over ``batches(epoch)``
    (backward, clip, step); ``validate(model)`` (metrics, ``settings.monitor`` lower is better)
    on validated epochs; the weights of the best validated epoch are restored at the end (the
    last epoch's without ``validate``). ``size(batch)`` weighs a batch's loss in the epoch's
    mean; ``after_epoch(model, entry)`` sees every epoch (logging, curves).

    Example:
        >>> fitted = fit(net, lambda m, i: F.mse_loss(m(x[i]), y[i]),
        ...              lambda epoch: torch.randperm(len(x)).split(32), FitSettings(epochs=10))
    """
    start = time.perf_counter()
    resolve_device(settings.device, "device")
    model.to(settings.device)
    kind = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    optimizer = kind(model.parameters(), settings.lr, weight_decay=settings.weight_decay)
    fitted = Fitted()
    best, best_state, since_best = float("inf"), None, 0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        total, items = 0.0, 0
        for batch in batches(epoch):
            value = loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            if settings.clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), settings.clip)
            optimizer.step()
            n = size(batch)
            total, items = total + value.item() * n, items + n
        entry = {"epoch": epoch, "train": total / max(items, 1)}
        last = epoch == settings.epochs
        if validate is not None and (epoch % settings.validate_every == 0 or last):
            model.eval()
            with torch.no_grad():
                entry.update(validate(model))
            score = entry[settings.monitor]
            if best_state is None or score < best:
                best, fitted.best_epoch, since_best = score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
        fitted.history.append(entry)
        if after_epoch is not None:
            after_epoch(model, entry)
        if settings.patience is not None and since_best >= settings.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        fitted.best_epoch = fitted.history[-1]["epoch"]
    model.eval()
    fitted.seconds = time.perf_counter() - start
    return fitted
