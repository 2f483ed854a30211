"""Permutation alignment (weight matching) and the novelty of generated weights.

Two networks that differ by a permutation of hidden channels compute the same function, so a
sample's distance to a training checkpoint is measured after permuting the sample's channels to
best match the checkpoint: group by group, a linear assignment (scipy) on the similarity of
the rows and columns each group permutes.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from weightspace.spec import WeightSpec, permute


def align(spec: WeightSpec, reference: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
    """``flat`` (P,) with its channels permuted to match ``reference`` (P,); same function."""
    current = flat.clone()
    identity = [torch.arange(s).unsqueeze(0) for s in spec.group_sizes]
    for group, size in enumerate(spec.group_sizes):
        ref, cur = spec.unflatten(reference), spec.unflatten(current)
        similarity = torch.zeros(size, size, dtype=torch.float64)
        for t in spec.tensors:
            if t.out_group == group:  # rows: each output channel's incoming weights
                a, b = ref[t.key].reshape(size, -1), cur[t.key].reshape(size, -1)
                similarity += a.double() @ b.double().T
            # columns (each channel's outgoing weights) only where their rows are aligned
            # already: a later group's rows are still in the sample's order
            settled = t.out_group is None or t.out_group < group
            if t.in_group == group and settled:
                a = ref[t.key].reshape(t.shape[0], size, -1).transpose(0, 1).reshape(size, -1)
                b = cur[t.key].reshape(t.shape[0], size, -1).transpose(0, 1).reshape(size, -1)
                similarity += a.double() @ b.double().T
        _, columns = linear_sum_assignment(similarity.numpy(), maximize=True)
        perms = list(identity)
        perms[group] = torch.as_tensor(columns).unsqueeze(0)
        current = permute(spec, current.unsqueeze(0), perms)[0]
    return current


def relative_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||."""
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def nearest_distance(
    spec: WeightSpec, samples: torch.Tensor, references: torch.Tensor
) -> np.ndarray:
    """For each sample (n, P): its aligned relative distance to the nearest reference (m, P)."""
    out = np.empty(len(samples))
    for i, sample in enumerate(samples):
        out[i] = min(relative_distance(align(spec, ref, sample), ref) for ref in references)
    return out
