"""One member of a zoo: everything needed to train it reproducibly."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from weightspace.zoo.architectures import ArchConfig
from weightspace.zoo.layers import mix64


@dataclass(frozen=True)
class ModelSpec:
    """A model of the zoo: its id, seed, architecture factors and optimizer factors."""

    model_id: int
    seed: int
    arch: ArchConfig
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0

    @property
    def group(self) -> tuple[str, str, str]:
        """Models of one group share a network structure and an optimizer type."""
        return (self.arch.name, self.arch.activation, self.optimizer)

    def factors(self) -> dict[str, object]:
        """The generating factors as columns of the zoo table."""
        return {
            "seed": self.seed,
            "activation": self.arch.activation,
            "dropout": self.arch.dropout,
            "init": self.arch.init,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
        }


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of one model in one epoch: a permutation of ``range(n)``.

    Depends only on the model's seed and the epoch, so the order is the same whether the model is
    trained alone or in any population.
    """
    key = int(mix64(torch.tensor(seed * 1_000_003 + epoch, dtype=torch.int64)))
    return torch.randperm(n, generator=torch.Generator().manual_seed(key & (2**63 - 1)))


def step_keys(seeds: torch.Tensor, step: int) -> torch.Tensor:
    """Per-model dropout keys (N,) int64 for one optimizer step."""
    return mix64(seeds * 7_919 + step)
