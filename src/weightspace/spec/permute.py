"""Permutation symmetries: draw random permutations of a spec's groups and apply them.

Permuting the output channels of a hidden layer together with the matching inputs of the layers
that read them (and everything tied to them: BatchNorm vectors, residual streams, the blocks of
a flattened feature map) leaves the network's function unchanged.
"""

from __future__ import annotations

import torch

from weightspace.errors import ConfigError
from weightspace.spec.spec import WeightSpec


def random_permutations(
    spec: WeightSpec,
    batch: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> list[torch.Tensor]:
    """Fresh uniform permutations, one ``(batch, size)`` tensor per group of ``spec``."""
    return [
        torch.rand(batch, size, generator=generator, device=device).argsort(dim=1)
        for size in spec.group_sizes
    ]


def permute(spec: WeightSpec, flat: torch.Tensor, perms: list[torch.Tensor]) -> torch.Tensor:
    """Apply one permutation per model: ``flat`` (B, P), ``perms[g]`` (B, size_g) -> (B, P).

    Channel ``i`` of group ``g`` in the result is channel ``perms[g][b, i]`` of the input.

    Example:
        >>> perms = random_permutations(spec, batch=4)
        >>> permuted = permute(spec, flat, perms)  # same functions, different weights
    """
    if flat.dim() != 2 or flat.shape[1] != spec.num_params:
        raise ConfigError("weights", f"shape (B, {spec.num_params})", tuple(flat.shape))
    if len(perms) != len(spec.group_sizes):
        raise ConfigError("perms", f"{len(spec.group_sizes)} permutations", len(perms))
    batch = flat.shape[0]
    parts = flat.split([t.numel for t in spec.tensors], 1)
    out = []
    for t, x in zip(spec.tensors, parts, strict=True):
        # gather with an expanded (stride-0) index: no index of the tensor's full size is made,
        # which for a ResNet-18 batch would cost gigabytes
        if t.out_group is not None:
            x = x.reshape(batch, t.shape[0], -1)
            index = perms[t.out_group].view(batch, -1, 1).expand(-1, -1, x.shape[2])
            x = torch.gather(x, 1, index)
        if t.in_group is not None:
            size = spec.group_sizes[t.in_group]
            x = x.reshape(batch, t.shape[0], size, -1)
            index = perms[t.in_group].view(batch, 1, size, 1).expand(-1, x.shape[1], -1, x.shape[3])
            x = torch.gather(x, 2, index)
        out.append(x.reshape(batch, t.numel))
    return torch.cat(out, 1)


def canonical_permutations(spec: WeightSpec, flat: torch.Tensor) -> list[torch.Tensor]:
    """Per group, the permutation that orders its channels by the squared norm of everything
    they own (the rows of every tensor the group indexes on axis 0: incoming weights, bias,
    BatchNorm vectors). A row's norm does not change when other groups permute its columns,
    so every group's order is found from the weights as they are."""
    batch = flat.shape[0]
    keys = [torch.zeros(batch, size, dtype=torch.float64) for size in spec.group_sizes]
    parts = flat.double().split([t.numel for t in spec.tensors], 1)
    for t, x in zip(spec.tensors, parts, strict=True):
        if t.out_group is not None:
            keys[t.out_group] += (x.reshape(batch, t.shape[0], -1) ** 2).sum(2)
    return [key.argsort(dim=1, stable=True) for key in keys]


def canonical_order(spec: WeightSpec, flat: torch.Tensor) -> torch.Tensor:
    """``flat`` (B, P) with every group's channels sorted by `canonical_permutations`: one
    representative per permutation orbit, so anything computed from it is unchanged by a
    permutation of the hidden channels (ties in the norms aside).

    Example:
        >>> moved = permute(spec, flat, random_permutations(spec, batch=len(flat)))
        >>> torch.equal(canonical_order(spec, moved), canonical_order(spec, flat))
        True
    """
    if flat.dim() != 2 or flat.shape[1] != spec.num_params:
        raise ConfigError("weights", f"shape (B, {spec.num_params})", tuple(flat.shape))
    return permute(spec, flat, canonical_permutations(spec, flat))
