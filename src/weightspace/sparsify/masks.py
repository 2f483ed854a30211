"""Magnitude pruning masks over a population's flat (N, P) parameter tensor.

The sparsified tensors are the weights of the conv and linear layers (biases and
normalization parameters are kept), as in the published twins: sparsity = zeroed weights /
weights of the sparsified layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Layout:
    """Where the sparsified tensors sit in a flat parameter vector of length ``size``."""

    names: tuple[str, ...]  # state-dict keys of the conv/linear weights
    starts: tuple[int, ...]
    sizes: tuple[int, ...]
    size: int

    @classmethod
    def of(cls, template: nn.Module, names: list[str], sizes: list[int]) -> Layout:
        """The layout of a network whose flat vector concatenates ``names`` of ``sizes``."""
        weights = {
            f"{path}.weight" if path else "weight"
            for path, module in template.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))
        }
        starts = [sum(sizes[:i]) for i in range(len(sizes))]
        chosen = [i for i, name in enumerate(names) if name in weights]
        return cls(
            tuple(names[i] for i in chosen),
            tuple(starts[i] for i in chosen),
            tuple(sizes[i] for i in chosen),
            sum(sizes),
        )

    @property
    def count(self) -> int:
        """How many weights are sparsified."""
        return sum(self.sizes)

    def segments(self) -> list[slice]:
        return [slice(s, s + n) for s, n in zip(self.starts, self.sizes, strict=True)]

    def index(self) -> torch.Tensor:
        """The positions (Q,) of the sparsified weights in the flat vector."""
        return torch.cat([torch.arange(s.start, s.stop) for s in self.segments()])


def _smallest(values: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """(N, Q) bool: the ``counts[i]`` smallest entries of each row (exact counts, ties by
    position)."""
    order = torch.argsort(values, dim=1, stable=True)  # (N, Q)
    ranked = torch.arange(values.shape[1], device=values.device) < counts.view(-1, 1)
    return torch.zeros_like(ranked).scatter(1, order, ranked)


def magnitude_mask(
    flat: torch.Tensor,
    layout: Layout,
    sparsity: torch.Tensor,
    scope: str = "global",
    keep: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, P) bool, False where a weight is pruned: per row the ``sparsity[i]`` share of the
    sparsified weights with the smallest magnitude, over all of them (``global``) or within
    each layer (``layer``). Weights already pruned in ``keep`` are pruned first (a gradual
    schedule only ever adds to a mask).

    Example:
        >>> mask = magnitude_mask(flat, layout, torch.full((len(flat),), 0.9))
    """
    magnitude = flat.detach().abs()
    if keep is not None:
        magnitude = torch.where(keep, magnitude, torch.full_like(magnitude, -1.0))
    mask = torch.ones_like(flat, dtype=torch.bool)
    groups = (
        [layout.index()]
        if scope == "global"
        else [torch.arange(s.start, s.stop) for s in layout.segments()]
    )
    for index in groups:
        index = index.to(flat.device)
        counts = torch.round(sparsity.to(flat.device) * len(index)).long()  # (N,)
        mask[:, index] = ~_smallest(magnitude[:, index], counts)
    return mask


def cubic_schedule(final: float, step: int, steps: int) -> float:
    """Gradual pruning (Zhu & Gupta 2017): the sparsity after ``step`` of ``steps`` pruning
    steps, rising fast first and reaching ``final`` at the last step."""
    return final * (1.0 - (1.0 - step / steps) ** 3)


def layer_sparsity(weights: dict[str, torch.Tensor], names: tuple[str, ...]) -> torch.Tensor:
    """(N, L) share of exact zeros per sparsified tensor ``names`` of stacked ``weights``."""
    return torch.stack(
        [(weights[k].reshape(len(weights[k]), -1) == 0).float().mean(1) for k in names], 1
    )


def total_sparsity(weights: dict[str, torch.Tensor], names: tuple[str, ...]) -> torch.Tensor:
    """(N,) share of exact zeros over all sparsified tensors together."""
    zeros = sum((weights[k].reshape(len(weights[k]), -1) == 0).sum(1) for k in names)
    count = sum(weights[k][0].numel() for k in names)
    return zeros.float() / count
