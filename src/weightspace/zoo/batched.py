"""A whole population's forward pass as a handful of batched kernels, without ``vmap``.

For the sequential zoo networks (CNN-s/CNN-l, the wide CNN, the Small CNN Zoo network, the MLPs,
the park CNNs with or without their residual skip) each layer of N models runs as one call on
stacked weights:

* a convolution of N models is one grouped convolution (``groups = N``) on the models' inputs
  stacked along channels, ``(B, N*C, H, W)``, input, weights and output in channels-last
  memory, where the oneDNN kernels and max-pooling run fastest; a first layer that all models
  apply to the same images (evaluation) is one ordinary convolution with ``N * out`` filters;
* a linear layer is one batched matmul ``(N, B, in) @ (N, in, out)``;
* pooling and activations act channel by channel, so they run once on the stacked tensor;
* a park CNN's skip adds each model's first-stage channels to its own last-stage channels;
* seeded dropout draws each model's mask from its own key (`weightspace.zoo.layers.Dropout`),
  element for element as the module does alone.

`plan` turns a network into such a program, or returns None for a network it cannot run this
way (batch norm, variational layers, an unknown module); the population trainer then falls back
to ``torch.func.vmap``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from weightspace.zoo.architectures import MLP, ConvNet, ParkCNN, SmallCNN, WideCNN, park_skip
from weightspace.zoo.layers import ACTIVATIONS, Dropout, counter_uniform, mix64

# networks whose forward is their children called in this order
CHAINS: dict[type, tuple[str, ...]] = {
    ConvNet: ("features", "classifier"),
    SmallCNN: ("features", "head"),
    WideCNN: ("features", "head"),
    MLP: ("net",),
    ParkCNN: ("stem", "body", "post", "head"),  # the skip, if any, is added by `_park_plan`
}
ELEMENTWISE = tuple(ACTIVATIONS.values())
CL = torch.channels_last


@dataclass
class Act:
    """Activations of N models: ``spatial`` (B, N*C, H, W), ``flat`` (N, B, F),
    or, before the first layer with weights, one ``shared`` input (B, ...) for all models."""

    x: torch.Tensor
    kind: str  # "spatial", "flat" or "shared"


Op = Callable[[Act, dict[str, torch.Tensor], dict[str, torch.Tensor], int, bool], Act]


def _leaves(module: nn.Module, prefix: str) -> list[tuple[str, nn.Module]] | None:
    """The modules a chain network calls, in order, with their state-dict prefixes."""
    if isinstance(module, nn.Sequential):
        children = list(module.named_children())
    elif type(module) in CHAINS:
        names = CHAINS[type(module)]
        if {n for n, _ in module.named_children()} != set(names):
            return None  # a child the chain does not call: not the forward we know
        children = [(n, getattr(module, n)) for n in names]
    else:
        return [(prefix.rstrip("."), module)]
    out: list[tuple[str, nn.Module]] = []
    for name, child in children:
        leaves = _leaves(child, f"{prefix}{name}.")
        if leaves is None:
            return None
        out.extend(leaves)
    return out


def plan(template: nn.Module) -> list[Op] | None:
    """The batched program of ``template``'s forward, or None where it is not supported."""
    if type(template) not in CHAINS:
        return None
    if isinstance(template, ParkCNN) and template.residual:
        return _park_plan(template)
    return _ops(template, "")


def _ops(module: nn.Module, prefix: str) -> list[Op] | None:
    """The ops of the modules ``module`` calls in order, or None if one is not supported."""
    leaves = _leaves(module, prefix)
    if leaves is None:
        return None
    ops: list[Op] = []
    for name, leaf in leaves:
        op = _op(name, leaf)
        if op is None:
            return None
        ops.append(op)
    return ops


def _park_plan(template: ParkCNN) -> list[Op] | None:
    """A residual park CNN: stem, then body with the stem's output added on the shared
    channels, then pooling and head."""
    parts = {name: _ops(getattr(template, name), f"{name}.") for name in CHAINS[ParkCNN]}
    if any(ops is None for ops in parts.values()):
        return None
    c_skip, c_out = template.widths[0], template.widths[-1]
    body = parts["body"]

    def residual(a: Act, params: dict, buffers: dict, n: int, training: bool) -> Act:
        out = a
        for op in body:
            out = op(out, params, buffers, n, training)
        b, _, h, w = out.x.shape  # (B, N*C, H, W) -> (B, N, C, H, W): add model by model
        y = out.x.reshape(b, n, c_out, h, w)
        joined = park_skip(y, a.x.reshape(b, n, c_skip, h, w), c_out, c_skip, dim=2)
        return Act(joined.reshape(b, n * c_out, h, w), "spatial")

    return [*parts["stem"], residual, *parts["post"], *parts["head"]]


def _op(name: str, module: nn.Module) -> Op | None:
    kind = type(module)
    if kind is nn.Conv2d and module.groups == 1 and module.padding_mode == "zeros":
        return _conv(name, module)
    if kind is nn.Linear:
        return _linear(name)
    if kind is Dropout:
        return _dropout(name, module)
    if kind in (nn.MaxPool2d, nn.AdaptiveAvgPool2d) or kind in ELEMENTWISE:
        if getattr(module, "return_indices", False):
            return None
        return lambda a, p, b, n, training: Act(module(a.x), a.kind)
    if kind is nn.Flatten and module.start_dim == 1 and module.end_dim == -1:
        return _flatten
    return None


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, ...] | int = 1,
    padding: tuple[int, ...] | int | str = 0,
    dilation: tuple[int, ...] | int = 1,
    shared: bool = False,
) -> torch.Tensor:
    """N models' convolutions in one call: ``weight`` (N, O, C, kh, kw), ``bias`` (N, O).

    ``x`` is (B, N*C, H, W), model i's input in channels ``i*C:(i+1)*C``, or with ``shared``
    one input (B, C, H, W) for all models. Returns (B, N*O, H', W') in channels-last memory;
    channels ``i*O:(i+1)*O`` equal ``F.conv2d`` of model i alone.
    """
    n, o, c, kh, kw = weight.shape
    if (kh, kw) == (1, 1) and _all_one(stride) and padding in (0, (0, 0), "valid"):
        return _pointwise(x, weight, bias, shared)
    flat_weight = weight.permute(0, 1, 3, 4, 2).reshape(n * o, kh, kw, c).permute(0, 3, 1, 2)
    flat_bias = None if bias is None else bias.reshape(n * o)
    x = x.contiguous(memory_format=CL)
    groups = 1 if shared else n
    return F.conv2d(x, flat_weight, flat_bias, stride, padding, dilation, groups)


def _all_one(value: tuple[int, ...] | int) -> bool:
    return all(v == 1 for v in (value if isinstance(value, tuple) else (value,)))


def _pointwise(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, shared: bool
) -> torch.Tensor:
    """A 1x1 convolution of N models as one batched matmul over pixels (the grouped kernel
    of a 1x1 convolution runs group by group)."""
    n, o, c = weight.shape[:3]
    b, _, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(b * h * w, -1, c)  # (BHW, N or 1, C)
    out = torch.matmul(pixels.transpose(0, 1), weight.view(n, o, c).transpose(1, 2))
    if bias is not None:
        out = out + bias.unsqueeze(1)  # (N, BHW, O)
    return (
        out.view(n, b, h, w, o).permute(1, 2, 3, 0, 4).reshape(b, h, w, n * o).permute(0, 3, 1, 2)
    )


def _conv(name: str, module: nn.Conv2d) -> Op:
    stride, padding, dilation = module.stride, module.padding, module.dilation
    has_bias = module.bias is not None

    def conv(a: Act, params: dict, buffers: dict, n: int, training: bool) -> Act:
        bias = params[f"{name}.bias"] if has_bias else None
        shared = a.kind == "shared"
        out = conv2d(a.x, params[f"{name}.weight"], bias, stride, padding, dilation, shared)
        return Act(out, "spatial")

    return conv


def _linear(name: str) -> Op:
    def linear(a: Act, params: dict, buffers: dict, n: int, training: bool) -> Act:
        w = params[f"{name}.weight"]  # (N, O, F)
        bias = params.get(f"{name}.bias")
        if a.kind == "shared":  # (B, F) for every model: one matmul with N * O outputs
            flat_bias = None if bias is None else bias.reshape(-1)
            out = F.linear(a.x, w.reshape(-1, w.shape[-1]), flat_bias)  # (B, N*O)
            return Act(out.view(len(a.x), n, -1).transpose(0, 1), "flat")
        if bias is None:
            return Act(torch.bmm(a.x, w.transpose(1, 2)), "flat")
        return Act(torch.baddbmm(bias.unsqueeze(1), a.x, w.transpose(1, 2)), "flat")

    return linear


def _flatten(a: Act, params: dict, buffers: dict, n: int, training: bool) -> Act:
    if a.kind == "shared":
        return Act(a.x.flatten(1), "shared")
    if a.kind == "flat":
        return a
    b, nc, h, w = a.x.shape
    per_model = a.x.view(b, n, nc // n, h, w).permute(1, 0, 2, 3, 4)  # (N, B, C, H, W)
    return Act(per_model.reshape(n, b, -1), "flat")


def _dropout(name: str, module: Dropout) -> Op:
    salt = module.salt

    def dropout(a: Act, params: dict, buffers: dict, n: int, training: bool) -> Act:
        if not (training and module.enabled and module.seeded) or a.kind == "shared":
            return a
        keys = mix64(buffers[f"{name}.key"] + salt)  # (N,)
        rate = buffers[f"{name}.rate"]  # (N,)
        if a.kind == "flat":  # (N, B, F): each model's mask over its own (B, F)
            u = counter_uniform(keys.view(n, 1, 1), a.x.shape[1:])  # (N, B, F)
            scale, keep = (1.0 - rate).view(n, 1, 1), u >= rate.view(n, 1, 1)
        else:  # (B, N*C, H, W): each model's mask over its own (B, C, H, W)
            b, nc, h, w = a.x.shape
            u = counter_uniform(keys.view(n, 1, 1, 1, 1), (b, nc // n, h, w))  # (N, B, C, H, W)
            u = u.permute(1, 0, 2, 3, 4).reshape(b, nc, h, w)
            per_channel = rate.repeat_interleave(nc // n).view(1, nc, 1, 1)
            scale, keep = 1.0 - per_channel, u >= per_channel
        return Act(torch.where(keep, a.x / scale, torch.zeros_like(a.x)), a.kind)

    return dropout


def per_model_input(x: torch.Tensor) -> Act:
    """Each model's own batch ``x`` (N, B, ...) as the program's input."""
    if x.dim() == 5:  # (N, B, C, H, W) -> (B, N*C, H, W), channels-last: one copy
        n, b, c, h, w = x.shape
        x = x.permute(1, 3, 4, 0, 2).reshape(b, h, w, n * c).contiguous().permute(0, 3, 1, 2)
        return Act(x, "spatial")
    if x.dim() == 3:
        return Act(x, "flat")
    raise ValueError(f"expected per-model inputs (N, B, C, H, W) or (N, B, F), got {x.shape}")


def run(
    ops: list[Op],
    params: dict[str, torch.Tensor],
    buffers: dict[str, torch.Tensor],
    n: int,
    a: Act,
    training: bool,
) -> torch.Tensor:
    """Logits (N, B, K) of the program ``ops`` on input ``a`` with stacked ``params``."""
    for op in ops:
        a = op(a, params, buffers, n, training)
    if a.kind != "flat":
        raise ValueError("a batched program must end in a linear layer")
    return a.x


def widest(template: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The largest per-image activation (elements) of one model of ``template``, traced on
    the meta device (shapes only)."""
    sizes = [math.prod(input_shape)]

    def hook(_m: nn.Module, _i: tuple, out: torch.Tensor) -> None:
        sizes.append(out[0].numel())

    leaves = [m for m in template.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    training = template.training
    try:
        with torch.no_grad():
            template.eval()(torch.zeros(1, *input_shape, device="meta"))
    finally:
        template.train(training)
        for handle in handles:
            handle.remove()
    return max(sizes)


def eval_chunk(width: int, n: int, budget: int = 1 << 20) -> int:
    """Images per evaluation chunk so that one layer's activations (``width`` elements per
    image and model) of all ``n`` models stay within ``budget`` floats (4 MiB by default,
    about a core's L2 cache: larger chunks measured slower, as each layer then streams its
    activations through main memory)."""
    return max(1, budget // max(1, n * width))
