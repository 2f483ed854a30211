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


def make_optimizer(spec: ModelSpec, params) -> torch.optim.Optimizer:
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


def train_alone(
    spec: ModelSpec, splits: Splits, epochs: int, batch_size: int
) -> tuple[dict[str, torch.Tensor], float]:
    """Train one model with torch.optim; returns its final state dict and test accuracy.

    Dropout here draws from torch's global generator, so only dropout-free models match the
    population trainer exactly; with dropout the accuracy distributions agree.
    """
    torch.manual_seed(spec.seed)
    model = build_model(spec.arch)
    optimizer = make_optimizer(spec, model.parameters())
    n = len(splits.train_x)
    for epoch in range(1, epochs + 1):
        model.train()
        order = epoch_order(spec.seed, epoch, n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss = F.cross_entropy(model(splits.train_x[idx]), splits.train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(splits.test_x).argmax(1) == splits.test_y).float().mean().item()
    return model.state_dict(), accuracy
