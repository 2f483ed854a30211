"""A `WeightSpec` from a bare state dict of a sequential CNN/MLP (no module at hand).

Imported checkpoints often come without their code. For a plain chain of conv and linear layers
(BatchNorm after a layer joins it) the permutation structure follows from the shapes alone:
each layer's outputs feed the next layer's inputs, a conv feeding a linear layer through a
flatten contributes blocks of H*W inputs per channel. Anything else (skip connections, grouped
convs) needs the module: use `spec_from_module`.
"""

from __future__ import annotations

import torch

from weightspace.errors import ConfigError
from weightspace.spec.spec import LayerSpec, WeightSpec, tensor_specs

_FIX = "Build the spec from the module instead: spec_from_module(net, input_shape)"


def spec_from_state_dict(state: dict[str, torch.Tensor]) -> WeightSpec:
    """Infer the spec of a sequential network from its state dict.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        >>> spec_from_state_dict(net.state_dict()).group_sizes
        (8,)
    """
    floats = {k: v for k, v in state.items() if v.is_floating_point()}
    modules: dict[str, list[str]] = {}
    for key in floats:
        modules.setdefault(key.rpartition(".")[0], []).append(key)
    layers, records, sizes = [], {}, []  # records: key -> (out, in, block)
    current: int | None = None  # the group of the previous layer's outputs
    channels = None  # how many outputs the previous layer has
    for name, keys in modules.items():
        weight = floats.get(f"{name}.weight")
        stats = f"{name}.running_mean" in floats
        if weight is not None and weight.dim() in (2, 4) and not stats:
            kind = "conv" if weight.dim() == 4 else "linear"
            block = _input_block(name, weight, kind, channels)
            sizes.append(weight.shape[0])
            records[f"{name}.weight"] = (len(sizes) - 1, current, block)
            records[f"{name}.bias"] = (len(sizes) - 1, None, 1)
            current, channels = len(sizes) - 1, weight.shape[0]
        elif (weight is None or weight.dim() == 1) and channels is not None:
            kind = "batchnorm"
            for key in keys:
                if floats[key].shape != (channels,):
                    raise ConfigError(key, f"shape ({channels},)", tuple(floats[key].shape), _FIX)
                records[key] = (current, None, 1)
        else:
            raise ConfigError(f"{name}.*", "a conv, linear or BatchNorm layer", keys, _FIX)
        layers.append(LayerSpec(name, kind, tuple(keys)))
    if current is None:
        raise ConfigError("state dict", "at least one conv or linear layer", list(floats), _FIX)
    # the last layer's outputs are the network's outputs: they do not permute
    last = current
    kept = [g for g in range(len(sizes)) if g != last]
    number = {g: i for i, g in enumerate(kept)}
    tensors = tensor_specs({k: v.shape for k, v in floats.items()}, records, number.get)
    return WeightSpec(tensors, tuple(layers), tuple(sizes[g] for g in kept))


def _input_block(name: str, weight: torch.Tensor, kind: str, channels: int | None) -> int:
    """How many consecutive inputs of ``weight`` belong to one output of the previous layer."""
    if channels is None:
        return 1
    fan_in = weight.shape[1]
    if kind == "conv" and fan_in == channels:
        return 1
    if kind == "linear" and fan_in % channels == 0:
        return fan_in // channels
    raise ConfigError(
        f"{name}.weight", f"{channels} inputs (the previous layer's outputs)", fan_in, _FIX
    )
