"""Cheap generators a weight generator must beat (Zeng et al. 2025): training checkpoints plus
Gaussian noise, averages of aligned checkpoints, and a Gaussian fitted to the checkpoints'
weights. Noise and Gaussian take a ``scale``; `match_scale` picks it so that the networks'
validation accuracy matches a target (the samples'), so novelty is compared at equal accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from weightspace.generate.align import align
from weightspace.spec import WeightSpec


def _tensor_std(spec: WeightSpec, flats: torch.Tensor) -> torch.Tensor:
    """(m, P): each entry replaced by the standard deviation of its tensor in its checkpoint."""
    out = torch.empty_like(flats)
    for t in spec.tensors:
        start = spec.offsets[t.key]
        stop = start + t.numel
        block = flats[:, start:stop]
        out[:, start:stop] = block.std(1, keepdim=True) if block.shape[1] > 1 else block.abs()
    return out


def noisy_checkpoints(
    spec: WeightSpec, references: torch.Tensor, n: int, scale: float, seed: int = 0
) -> torch.Tensor:
    """(n, P): random references plus N(0, (scale x the tensor's std)^2) per weight."""
    gen = torch.Generator().manual_seed(seed)
    picked = references[torch.randint(len(references), (n,), generator=gen)]
    noise = torch.randn(picked.shape, generator=gen, dtype=picked.dtype)
    return picked + scale * _tensor_std(spec, picked) * noise


def aligned_to_first(spec: WeightSpec, references: torch.Tensor) -> torch.Tensor:
    """(m, P): every reference permuted to match the first (a common basis)."""
    return torch.stack([references[0]] + [align(spec, references[0], r) for r in references[1:]])


def aligned_averages(
    spec: WeightSpec, references: torch.Tensor, n: int, k: int = 2, seed: int = 0
) -> torch.Tensor:
    """(n, P): each the average of ``k`` random references, aligned to the first of them."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        chosen = references[
            rng.choice(len(references), size=min(k, len(references)), replace=False)
        ]
        out.append(aligned_to_first(spec, chosen).mean(0))
    return torch.stack(out)


def gaussian_fit(aligned: torch.Tensor, n: int, scale: float = 1.0, seed: int = 0) -> torch.Tensor:
    """(n, P): draws of a diagonal Gaussian fitted to references already in one basis (see
    `aligned_to_first`), its standard deviation times ``scale``."""
    mean, std = aligned.mean(0), aligned.std(0)
    gen = torch.Generator().manual_seed(seed)
    return mean + scale * std * torch.randn((n, len(mean)), generator=gen, dtype=mean.dtype)


def match_scale(
    make: Callable[[float], torch.Tensor],
    accuracy: Callable[[torch.Tensor], float],
    target: float,
    low: float = 1e-3,
    high: float = 10.0,
    steps: int = 8,
) -> float:
    """The ``scale`` in [low, high] whose networks' mean accuracy is closest to ``target``,
    by bisection on a log scale (accuracy falls as the scale grows)."""
    best, best_gap = low, np.inf
    lo, hi = np.log(low), np.log(high)
    for _ in range(steps):
        mid = float(np.exp((lo + hi) / 2))
        acc = accuracy(make(mid))
        if abs(acc - target) < best_gap:
            best, best_gap = mid, abs(acc - target)
        if acc > target:
            lo = np.log(mid)
        else:
            hi = np.log(mid)
    return best
