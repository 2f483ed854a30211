"""Turn generated weights into working networks and measure them: BatchNorm conditioning,
accuracy, and fine-tuning curves."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import ConfigError
from weightspace.fitting import FitSettings, fit
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.datasets import Splits


@torch.no_grad()
def condition_batchnorm(
    net: nn.Module, images: torch.Tensor, steps: int = 200, batch_size: int = 64, seed: int = 0
) -> nn.Module:
    """Re-estimate BatchNorm running statistics from ``steps`` forward passes in train mode
    (no gradients), as SANE does for sampled models. A net without BatchNorm, or ``steps=0``,
    is left as it is (statistics are reset only when new ones will be measured)."""
    if steps < 0:
        raise ConfigError("condition_steps", "an integer >= 0", steps)
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or steps == 0:
        return net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over all conditioning batches
    net.train()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        net(images[torch.randint(len(images), (batch_size,), generator=gen)])
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    return float((net(x).argmax(1) == y).float().mean())


def finetune(
    net: nn.Module,
    splits: Splits,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> list[float]:
    """Test accuracy before and after each of ``epochs`` epochs of Adam on the training split
    (the package's fitting loop, `weightspace.fitting.fit`, without validation)."""
    gen = torch.Generator().manual_seed(seed)
    curve = [accuracy(net, splits.test_x, splits.test_y)]

    def batches(_epoch: int) -> tuple[torch.Tensor, ...]:
        return torch.randperm(len(splits.train_y), generator=gen).split(batch_size)

    def loss(model: nn.Module, index: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(splits.train_x[index]), splits.train_y[index])

    def tested(model: nn.Module, _entry: dict) -> None:
        curve.append(accuracy(model, splits.test_x, splits.test_y))

    if epochs:
        fit(net, loss, batches, FitSettings(epochs=epochs, lr=lr), after_epoch=tested)
    return curve


def finetune_curves(nets: list[nn.Module], splits: Splits, epochs: int) -> np.ndarray:
    """(n, epochs + 1) test accuracy of a copy of each net fine-tuned for ``epochs`` (net i with
    data-order seed i); the nets themselves are left as they are."""
    return np.array(
        [finetune(copy.deepcopy(net), splits, epochs, seed=i) for i, net in enumerate(nets)]
    ).reshape(len(nets), epochs + 1)


def random_networks(arch: ArchConfig, n: int, seed: int = 0) -> list[nn.Module]:
    """``n`` freshly initialized networks of ``arch`` (seeding torch's global generator with
    ``seed``): the baseline that samples must beat."""
    torch.manual_seed(seed)
    return [build_model(arch).eval() for _ in range(n)]


def relabel(splits: Splits, shift: int = 3) -> Splits:
    """The same images with the classes renamed (class c becomes c + shift, cyclically): a new
    task of the same input shape, for transfer."""
    mapping = torch.roll(torch.arange(splits.num_classes), shift)
    return replace(
        splits,
        train_y=mapping[splits.train_y],
        val_y=mapping[splits.val_y],
        test_y=mapping[splits.test_y],
    )


def with_new_head(nets: list[nn.Module], seed: int = 0) -> list[nn.Module]:
    """Copies of ``nets`` with the last linear layer freshly initialized (seeding torch's global
    generator with ``seed``), as in transfer learning."""
    torch.manual_seed(seed)
    out = []
    for net in nets:
        net = copy.deepcopy(net)
        [m for m in net.modules() if isinstance(m, nn.Linear)][-1].reset_parameters()
        out.append(net)
    return out
