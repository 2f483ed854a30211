"""The weight-space spec: which tensors a network has, in which order, and which axes permute.

A `WeightSpec` is frozen and holds no weights (nfn's split of spec and data). Everything that
needs the structure of a network reads it: the flat weight vector of the zoo reader, the
tokenizers, the per-layer normalization and the permutation augmentation.

Build one from a module (`spec_from_module`, which traces the forward pass to find the axes
that permute together, skip connections included), from a registry architecture
(`weight_spec`), or from a plain state dict of a sequential CNN/MLP (`spec_from_state_dict`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import accumulate

import torch

from weightspace.errors import ConfigError

KINDS = ("conv", "linear", "batchnorm", "other")


@dataclass(frozen=True)
class TensorSpec:
    """One floating-point tensor of the state dict.

    ``out_group`` permutes axis 0 (output channels; all of a BatchNorm vector); ``in_group``
    permutes axis 1 in blocks of ``in_block`` entries (``in_block`` = H*W for the first linear
    layer after a flatten, 1 otherwise). ``None`` means the axis is fixed (network input/output).
    """

    key: str
    shape: tuple[int, ...]
    out_group: int | None = None
    in_group: int | None = None
    in_block: int = 1

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerSpec:
    """One layer: its module path, kind and tensor keys (weight first, then bias, BN stats)."""

    name: str
    kind: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class WeightSpec:
    """Tensors in state-dict order (the order of the flat vector), layers, permutation groups.

    Example:
        >>> spec = weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8)))
        >>> spec.num_params, len(spec.group_sizes)
        (1096, 3)
        >>> flat = spec.flatten(net.state_dict())  # (1096,)
    """

    tensors: tuple[TensorSpec, ...]
    layers: tuple[LayerSpec, ...]
    group_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        groups = range(len(self.group_sizes))
        for t in self.tensors:
            assert t.out_group is None or t.out_group in groups, t
            assert t.in_group is None or t.in_group in groups, t

    @functools.cached_property
    def offsets(self) -> dict[str, int]:
        """Start of each tensor in the flat vector."""
        starts = [0, *accumulate(t.numel for t in self.tensors)]
        return {t.key: start for t, start in zip(self.tensors, starts, strict=False)}

    @functools.cached_property
    def by_key(self) -> dict[str, TensorSpec]:
        return {t.key: t for t in self.tensors}

    @property
    def num_params(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(t.key for t in self.tensors)

    def flatten(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """State dict (single ``(*shape)`` or batched ``(B, *shape)`` tensors) -> (P,) or (B, P)."""
        self.check(state)
        first = state[self.tensors[0].key]
        batch = first.shape[: first.dim() - len(self.tensors[0].shape)]
        return torch.cat([state[t.key].reshape(*batch, t.numel) for t in self.tensors], -1)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """(P,) or (B, P) -> state dict of the spec's tensors (views into ``flat``)."""
        if flat.shape[-1] != self.num_params:
            raise ConfigError(
                "weights", f"a last dimension of {self.num_params} parameters", tuple(flat.shape)
            )
        batch = flat.shape[:-1]
        parts = flat.split([t.numel for t in self.tensors], -1)
        return {t.key: p.view(*batch, *t.shape) for t, p in zip(self.tensors, parts, strict=True)}

    def check(self, state: dict[str, torch.Tensor]) -> None:
        """Raise a ConfigError naming the first key that is missing or has the wrong shape."""
        first = self.tensors[0]
        if first.key not in state:
            raise ConfigError("state dict", f"a tensor {first.key!r}", "missing", fix=_FIX)
        lead = state[first.key].dim() - len(first.shape)
        for t in self.tensors:
            value = state.get(t.key)
            if value is None:
                raise ConfigError("state dict", f"a tensor {t.key!r}", "missing", fix=_FIX)
            if lead < 0 or tuple(value.shape[lead:]) != t.shape:
                raise ConfigError(f"state dict[{t.key!r}]", f"shape {t.shape}", tuple(value.shape))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> WeightSpec:
        tensors = tuple(
            TensorSpec(t["key"], tuple(t["shape"]), t["out_group"], t["in_group"], t["in_block"])
            for t in data["tensors"]
        )
        layers = tuple(LayerSpec(x["name"], x["kind"], tuple(x["keys"])) for x in data["layers"])
        return cls(tensors, layers, tuple(data["group_sizes"]))


def tensor_specs(
    shapes: dict[str, tuple[int, ...]],
    records: dict[str, tuple[int | None, int | None, int]],
    number: Callable[[int | None], int | None],
) -> tuple[TensorSpec, ...]:
    """TensorSpecs from raw group records (key -> (out group, in group, in_block)); ``number``
    maps a raw group to its final index, or None where it is fixed."""
    tensors = []
    for key, shape in shapes.items():
        out_g, in_g, block = records.get(key, (None, None, 1))
        out_n, in_n = number(out_g), number(in_g)
        tensors.append(TensorSpec(key, tuple(shape), out_n, in_n, block if in_n is not None else 1))
    return tuple(tensors)


_FIX = "Pass a state dict of the architecture the spec was built for"
