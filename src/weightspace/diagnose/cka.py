"""Linear CKA (Kornblith et al. 2019) between models' outputs on mixup inputs."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from weightspace.diagnose.stack import Stack


def linear_cka(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Linear CKA of representations a (..., n, d1) and b (..., n, d2), centred over n.

    CKA = ‖bᵀa‖²_F / (‖aᵀa‖_F ‖bᵀb‖_F) after centring: 1 for identical representations,
    invariant to orthogonal transforms and isotropic scaling of either.

        >>> linear_cka(torch.eye(3), 2 * torch.eye(3))
        tensor(1.)
    """
    a = (a - a.mean(-2, keepdim=True)).double()
    b = (b - b.mean(-2, keepdim=True)).double()
    cross = (b.transpose(-1, -2) @ a).square().sum((-2, -1))
    norm_a = (a.transpose(-1, -2) @ a).square().sum((-2, -1)).sqrt()
    norm_b = (b.transpose(-1, -2) @ b).square().sum((-2, -1)).sqrt()
    return (cross / (norm_a * norm_b).clamp(min=1e-30)).float()


def mixup_inputs(x: torch.Tensor, seed: int, alpha: float = 16.0) -> torch.Tensor:
    """Each input mixed with a random partner, λ ~ Beta(alpha, alpha) per input: (B, ...)."""
    rng = np.random.default_rng(seed)
    partner = torch.from_numpy(rng.permutation(len(x)))
    lam = torch.from_numpy(rng.beta(alpha, alpha, len(x))).to(x.dtype)
    lam = lam.view(-1, *([1] * (x.dim() - 1)))
    return lam * x + (1 - lam) * x[partner]


def seed_cka(stack: Stack, groups: list[list[int]], x: torch.Tensor) -> list[float]:
    """Mean linear CKA of softmax outputs over the ordered pairs of each group's models.

    ``groups`` lists the rows of ``stack`` that are seeds of one configuration; one batched
    forward pass serves all of them.
    """
    probs = stack.logits(x).softmax(-1)  # (N, B, K)
    out = []
    for rows in groups:
        pairs = list(itertools.permutations(rows, 2))
        if not pairs:
            out.append(float("nan"))
            continue
        i, j = zip(*pairs, strict=True)
        out.append(float(linear_cka(probs[list(i)], probs[list(j)]).mean()))
    return out
