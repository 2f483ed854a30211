"""The plain way: one model at a time, `torch.optim`, an `nn.Module` forward.

The parity reference for the population trainer (tests) and the baseline of
``benchmarks/zoo_throughput.py``. Same data order and initialization as the population trainer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weightspace.zoo.architectures import build_model
from weightspace.zoo.datasets import Splits
from weightspace.zoo.members import ModelSpec, epoch_order
from weightspace.zoo.optim import OptimizerSettings


def member_optimizer(spec: ModelSpec, params) -> torch.optim.Optimizer:  # noqa: ANN001
    """The `torch.optim` optimizer a zoo member trains with alone (its optimizer, lr, decay)."""
    settings = OptimizerSettings()
    if spec.optimizer == "adam":
        return torch.optim.Adam(
            params,
            lr=spec.lr,
            betas=settings.betas,
            eps=settings.eps,
            weight_decay=spec.weight_decay,
        )
    return torch.optim.SGD(
        params, lr=spec.lr, momentum=settings.momentum, weight_decay=spec.weight_decay
    )


def evaluate(
    model: torch.nn.Module, splits: Splits, train: list[float] | None = None
) -> list[float]:
    """Loss and accuracy on train, val and test, in the order of `population.METRICS`.

    ``train`` gives the training columns (running averages); else the split is evaluated.
    """
    model.eval()
    values = list(train) if train is not None else []
    parts = [(splits.val_x, splits.val_y), (splits.test_x, splits.test_y)]
    if train is None:
        parts.insert(0, (splits.train_x, splits.train_y))
    with torch.no_grad():
        for x, y in parts:
            logits = model(x)
            values += [
                F.cross_entropy(logits, y).item(),
                (logits.argmax(1) == y).float().mean().item(),
            ]
    return values


def train_alone(
    spec: ModelSpec, splits: Splits, epochs: int, batch_size: int, train_metrics: str = "running"
) -> tuple[dict[str, torch.Tensor], list[list[float]]]:
    """Train one model with torch.optim, evaluating every epoch (0 = initialization).

    Returns its final state dict and per-epoch metrics (epochs + 1 lists of 6 values).
    Dropout here draws from torch's global generator, so only dropout-free models match the
    population trainer exactly; with dropout the accuracy distributions agree.
    """
    torch.manual_seed(spec.seed)
    model = build_model(spec.arch)
    optimizer = member_optimizer(spec, model.parameters())
    n = len(splits.train_x)
    metrics = [evaluate(model, splits)]
    for epoch in range(1, epochs + 1):
        model.train()
        order = epoch_order(spec.seed, epoch, n)
        loss_sum, correct = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            logits = model(splits.train_x[idx])
            loss = F.cross_entropy(logits, splits.train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == splits.train_y[idx]).sum().item()
        running = [loss_sum / n, correct / n] if train_metrics == "running" else None
        metrics.append(evaluate(model, splits, running))
    return model.state_dict(), metrics
