"""Building blocks shared by the zoo architectures: activations, initializations, seeded dropout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.errors import check_choice
from weightspace.zoo.names import ACTIVATION_NAMES, INITS

# keys: `weightspace.zoo.names.ACTIVATION_NAMES` (what a config is checked against)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
}

BIAS_INIT = (
    0.01  # bias init of the published zoos (Model Zoos, Schürholt et al., NeurIPS 2022 Datasets)
)


def activation(name: str) -> nn.Module:
    check_choice("activation", name, ACTIVATION_NAMES)
    return ACTIVATIONS[name]()


def initialize(module: nn.Module, scheme: str) -> None:
    """Initialize the conv and linear layers of ``module`` in place.

    ``default`` keeps PyTorch's initialization; ``uniform``/``normal`` are Glorot (Xavier)
    uniform/normal; the ``kaiming_*`` schemes use the ReLU gain. Biases are set to 0.01 as in
    the published zoos, except under ``default``. Draws come from torch's global generator, so
    seed it first (``torch.manual_seed``) for a reproducible model.
    """
    check_choice("init", scheme, INITS)
    if scheme == "default":
        return
    fill = {
        "uniform": nn.init.xavier_uniform_,
        "normal": nn.init.xavier_normal_,
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    }[scheme]
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            fill(layer.weight)
            if layer.bias is not None:
                nn.init.constant_(layer.bias, BIAS_INIT)


# splitmix64 constants written as signed int64 (torch integer arithmetic wraps around)
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB


def _logical_shift(z: torch.Tensor, bits: int) -> torch.Tensor:
    # torch's >> on int64 is arithmetic; mask off the sign-extended bits
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finalizer on int64 tensors: a fast, well-spread integer hash."""
    z = (z ^ _logical_shift(z, 30)) * _MIX1
    z = (z ^ _logical_shift(z, 27)) * _MIX2
    return z ^ _logical_shift(z, 31)


def counter_uniform(key: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Uniform floats in [0, 1) that depend only on ``key`` and the element index.

    A counter-based generator: the draw of one model does not depend on which other models
    share its population, so a model trained inside a population equals the model trained
    alone, dropout included. Works under ``torch.func.vmap`` with a batched ``key``.
    """
    index = torch.arange(math.prod(shape), dtype=torch.int64, device=key.device).view(shape)
    bits = mix64(key * _GOLDEN + index)
    return _logical_shift(bits, 40).to(torch.float32) * (1.0 / (1 << 24))


class Dropout(nn.Module):
    """Dropout whose masks come from a per-model counter-based generator when trained in a
    population (``seeded = True`` and a ``key`` per step), else from torch's generator.

    ``rate`` and ``key`` are non-persistent buffers: they do not appear in the state dict, but
    ``torch.func.stack_module_state`` stacks them, so each model of a population has its own.
    """

    channelwise = True  # the spec tracer keeps permutation groups through it

    def __init__(self, p: float, salt: int = 0) -> None:
        super().__init__()
        self.p = float(p)
        self.salt = salt
        self.seeded = False
        self.enabled = True
        self.register_buffer("rate", torch.tensor(self.p), persistent=False)
        self.register_buffer("key", torch.tensor(0, dtype=torch.int64), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.enabled:
            return x
        if not self.seeded:
            return F.dropout(x, self.p, True)
        keep = counter_uniform(mix64(self.key + self.salt), x.shape) >= self.rate
        return torch.where(keep, x / (1.0 - self.rate), torch.zeros_like(x))

    def extra_repr(self) -> str:
        return f"p={self.p}"
