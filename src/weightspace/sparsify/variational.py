"""Sparse variational dropout (Molchanov, Ashukha & Vetrov 2017), as the published twins use it.

Every conv/linear weight w gets a learned log sigma^2 (initialized to -10); its dropout rate is
log alpha = log sigma^2 - log(w^2 + 1e-15), clamped to [-8, 8] in conv and [-10, 10] in linear
layers. Training uses the local reparameterization trick: the layer's output is drawn from a
Gaussian with mean f(x, W) and variance f(x^2, alpha W^2). Evaluation zeroes every weight with
log alpha >= 3 and runs the plain layer. The loss adds the approximate KL divergence of each
weight's posterior from the log-uniform prior, scaled by `SparsifyConfig.kl_factor` (by default
the ELBO's: the ramped KL weight over the training-set size).

The Gaussian noise comes from the counter-based generator of the population trainer, keyed by
the model's seed and the step, so a model sparsified in a population equals it sparsified alone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.zoo.layers import mix64

K1, K2, K3 = 0.63576, 1.8732, 1.48695  # Molchanov et al.'s fit of the KL term
CLAMP = {"conv": 8.0, "linear": 10.0}  # |log alpha| bounds of the published code
EPS = 1e-15  # inside log(w^2 + eps)
_STRIDE = -7046029254386353131  # the golden-ratio increment of splitmix64, as int64


def log_alpha(weight: torch.Tensor, log_sigma2: torch.Tensor, bound: float) -> torch.Tensor:
    """Per-weight log alpha = clamp(log sigma^2 - log(w^2 + 1e-15), -bound, bound)."""
    return torch.clamp(log_sigma2 - torch.log(weight * weight + EPS), -bound, bound)


def kl_divergence(log_alpha: torch.Tensor) -> torch.Tensor:
    """The approximate KL(q(w) || log-uniform prior) per weight (the negated -KL fit):
    k1 - k1 * sigmoid(k2 + k3 * log alpha) + 0.5 * log(1 + exp(-log alpha))."""
    return K1 - K1 * torch.sigmoid(K2 + K3 * log_alpha) + 0.5 * F.softplus(-log_alpha)


def gaussian(key: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Standard normal draws (Box-Muller) that depend only on ``key`` and the element index.

    One 64-bit hash per element (the counter-based generator of seeded dropout) gives both
    uniforms: its top and bottom 24 bits.
    """
    index = torch.arange(math.prod(shape), dtype=torch.int64, device=key.device).view(shape)
    bits = mix64(mix64(key) + index * _STRIDE)
    scale = 1.0 / (1 << 24)
    u1 = ((bits >> 40) & 0xFFFFFF).to(torch.float32) * scale  # [0, 1)
    u2 = (bits & 0xFFFFFF).to(torch.float32) * scale
    return torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * math.pi * u2)


class _Variational(nn.Module):
    """A conv or linear layer with a learned log sigma^2 per weight."""

    kind = "linear"

    def __init__(self, layer: nn.Module, salt: int, init: float, threshold: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().clone())
        self.log_sigma2 = nn.Parameter(torch.full_like(self.weight, init))
        self.salt = salt
        self.threshold = threshold
        # the population trainer sets every buffer named "*.key" to a per-model step key
        self.register_buffer("key", torch.tensor(0, dtype=torch.int64), persistent=False)

    def log_alpha(self) -> torch.Tensor:
        return log_alpha(self.weight, self.log_sigma2, CLAMP[self.kind])

    def sparse_weight(self) -> torch.Tensor:
        """The weight of the evaluated network: zero where log alpha >= threshold."""
        return torch.where(self.log_alpha() < self.threshold, self.weight, 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self._layer(x, self.sparse_weight(), self.bias)
        mean = self._layer(x, self.weight, self.bias)
        variance = self._layer(x * x, torch.exp(self.log_alpha()) * self.weight**2, None)
        noise = gaussian(mix64(self.key + self.salt), mean.shape)
        return mean + torch.sqrt(variance + 1e-8) * noise

    def _layer(self, x, weight, bias) -> torch.Tensor:  # noqa: ANN001
        return F.linear(x, weight, bias)


class VariationalLinear(_Variational):
    kind = "linear"


class VariationalConv2d(_Variational):
    kind = "conv"

    def __init__(self, layer: nn.Conv2d, salt: int, init: float, threshold: float) -> None:
        super().__init__(layer, salt, init, threshold)
        self.stride, self.padding = layer.stride, layer.padding
        self.dilation, self.groups = layer.dilation, layer.groups

    def _layer(self, x, weight, bias) -> torch.Tensor:  # noqa: ANN001
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def to_variational(model: nn.Module, init: float = -10.0, threshold: float = 3.0) -> nn.Module:
    """``model`` with every Conv2d and Linear replaced (in place) by its variational version;
    state-dict keys of weights and biases are unchanged, each gains a ``log_sigma2``."""
    targets = [
        (path, module)
        for path, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    for salt, (path, module) in enumerate(targets, start=101):  # dropout layers use 1, 2, ...
        kind = VariationalConv2d if isinstance(module, nn.Conv2d) else VariationalLinear
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, name, kind(module, salt, init, threshold))
    return model


def variational_layers(model: nn.Module) -> list[tuple[str, float]]:
    """(state-dict prefix, log-alpha bound) of each variational layer of ``model``."""
    return [
        (path, CLAMP[module.kind])
        for path, module in model.named_modules()
        if isinstance(module, _Variational)
    ]


class KLPenalty:
    """The population trainer's extra loss: ``weight`` times each model's summed KL (N,).

    ``unflatten`` splits a flat (N, P) tensor into named (N, *shape) tensors.
    """

    def __init__(self, layers: list[tuple[str, float]], unflatten) -> None:  # noqa: ANN001
        self.layers, self.unflatten, self.weight = layers, unflatten, 0.0

    def total(self, flat: torch.Tensor) -> torch.Tensor:
        """(N,) the summed KL of every sparsified weight of each model."""
        named = self.unflatten(flat)
        out = flat.new_zeros(len(flat))
        for prefix, bound in self.layers:
            alpha = log_alpha(named[f"{prefix}.weight"], named[f"{prefix}.log_sigma2"], bound)
            out = out + kl_divergence(alpha).reshape(len(flat), -1).sum(1)
        return out

    def __call__(self, flat: torch.Tensor) -> torch.Tensor:
        return self.weight * self.total(flat)


def sparse_weights(
    named: dict[str, torch.Tensor], layers: list[tuple[str, float]], threshold: float
) -> dict[str, torch.Tensor]:
    """The evaluated networks' weights from variational parameters {key: (N, *shape)}: each
    weight with log alpha >= ``threshold`` zeroed, ``log_sigma2`` dropped."""
    out = {k: v.detach().clone() for k, v in named.items() if not k.endswith(".log_sigma2")}
    for prefix, bound in layers:
        alpha = log_alpha(named[f"{prefix}.weight"], named[f"{prefix}.log_sigma2"], bound)
        out[f"{prefix}.weight"][alpha.detach() >= threshold] = 0.0
    return out
