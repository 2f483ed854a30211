"""Is a generated network new? The two measures of the memorization study of weight generators
(Zeng et al. 2025, "Generative modeling of weights: generalization or memorization?"), and the
samples' diversity.

- weight novelty: L2 distance to the nearest training checkpoint after permutation alignment
  (absolute, and relative to that checkpoint's norm);
- behavioural overlap: the highest IoU between a network's set of wrongly classified test
  images and that of any training checkpoint (1 = it fails exactly where a checkpoint fails);
- diversity: the mean aligned relative distance between two samples (0 = mode collapse).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import torch
from torch import nn

from weightspace.generate.align import align, relative_distance
from weightspace.spec import WeightSpec


def nearest_checkpoints(
    spec: WeightSpec,
    flats: torch.Tensor,
    references: torch.Tensor,
    skip: Sequence[int | None] | None = None,
) -> dict[str, np.ndarray]:
    """For each network (n, P): its aligned L2 distance to the nearest reference (m, P), that
    distance relative to the reference's norm, and the reference's index. ``skip[i]`` names a
    reference network i must not be matched with (itself, for training checkpoints)."""
    n = len(flats)
    out = {"l2": np.empty(n), "relative": np.empty(n), "index": np.empty(n, dtype=int)}
    for i, flat in enumerate(flats):
        best = (np.inf, np.inf, -1)
        for j, ref in enumerate(references):
            if skip is not None and skip[i] == j:
                continue
            aligned = align(spec, ref, flat)
            l2 = float((aligned - ref).norm())
            if l2 < best[0]:
                best = (l2, relative_distance(aligned, ref), j)
        out["l2"][i], out["relative"][i], out["index"][i] = best
    return out


@torch.no_grad()
def error_sets(nets: Sequence[nn.Module], x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """(n, len(y)) bool: which images each network classifies wrongly."""
    rows = []
    for net in nets:
        net.eval()
        rows.append((net(x).argmax(1) != y).numpy())
    return np.stack(rows) if rows else np.zeros((0, len(y)), dtype=bool)


def behavioural_overlap(
    errors: np.ndarray, reference_errors: np.ndarray, skip: Sequence[int | None] | None = None
) -> np.ndarray:
    """(n,) the highest IoU of each network's error set with any reference's error set."""
    a, b = errors.astype(np.float64), reference_errors.astype(np.float64)
    inter = a @ b.T  # (n, m)
    union = a.sum(1, keepdims=True) + b.sum(1) - inter
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)  # both perfect: identical
    if skip is not None:
        for i, j in enumerate(skip):
            if j is not None:
                iou[i, j] = -np.inf
    return iou.max(1)


def diversity(spec: WeightSpec, flats: torch.Tensor, max_pairs: int = 200, seed: int = 0) -> float:
    """Mean aligned relative distance over pairs of networks (up to ``max_pairs``, drawn)."""
    pairs = list(combinations(range(len(flats)), 2))
    if not pairs:
        return float("nan")
    if len(pairs) > max_pairs:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in rng.choice(len(pairs), max_pairs, replace=False)]
    return float(
        np.mean([relative_distance(align(spec, flats[i], flats[j]), flats[i]) for i, j in pairs])
    )
