"""Derive a `WeightSpec` by tracing a module's forward pass with torch.fx.

Each activation tensor carries a *label*: the permutation group that indexes its channel axis
(dim 1) and the block size of one channel along that axis (H*W after a flatten, else 1). Conv and
linear layers start a new group for their outputs and record the group of their inputs;
BatchNorm joins its input's group; channel-wise ops pass labels through; an addition ties the
groups of its operands (residual streams); flatten multiplies the block size. Any op this file
does not know fixes the groups it touches, so an unknown network gets fewer permutations, never
wrong ones. The network's input and output channels are fixed.
"""

from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from weightspace.errors import ConfigError
from weightspace.spec.spec import LayerSpec, WeightSpec, tensor_specs

_CHANNELWISE_MODULES = (
    nn.ReLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.GELU,
    nn.LeakyReLU,
    nn.SiLU,
    nn.ELU,
    nn.Identity,
    nn.Dropout,
    nn.Dropout2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)
_CHANNELWISE_FUNCTIONS = {
    torch.relu,
    torch.tanh,
    torch.sigmoid,
    F.relu,
    F.gelu,
    F.silu,
    F.elu,
    F.leaky_relu,
    F.dropout,
    F.max_pool2d,
    F.avg_pool2d,
    F.adaptive_avg_pool2d,
}
_CHANNELWISE_METHODS = {"relu", "tanh", "sigmoid", "contiguous", "clone"}
_ADDS = {operator.add, operator.iadd, torch.add, "add", "add_", "__add__"}
_FLATTENS = {torch.flatten, "flatten", "view", "reshape"}


@dataclass(frozen=True)
class _Label:
    group: int  # a union-find node
    block: int = 1


class _Groups:
    """Union-find over permutation groups; a fixed group stays fixed through unions."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []
        self.fixed: list[bool] = []

    def new(self, size: int, fixed: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        self.fixed.append(fixed)
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a
            self.fixed[a] = self.fixed[a] or self.fixed[b] or self.size[a] != self.size[b]

    def fix(self, g: int) -> None:
        self.fixed[self.find(g)] = True


def _marked_channelwise(m: nn.Module) -> bool:
    """Modules of other packages that declare ``channelwise = True`` (e.g. the zoo's Dropout)."""
    return bool(getattr(m, "channelwise", False))


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return _marked_channelwise(m) or super().is_leaf_module(m, qualname)


def spec_from_module(module: nn.Module, input_shape: tuple[int, ...]) -> WeightSpec:
    """Trace ``module`` on an input of ``input_shape`` (without the batch axis) into a spec.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> spec_from_module(net, (4,)).group_sizes  # the 8 hidden neurons permute
        (8,)
    """
    net = copy.deepcopy(module).eval()
    try:
        graph = _Tracer().trace(net)
    except Exception as err:  # fx raises many types for untraceable Python control flow
        raise ConfigError(
            "module",
            "a module torch.fx can trace (no data-dependent Python control flow in forward)",
            type(module).__name__,
            fix=f"Trace failed with: {err}",
        ) from None
    gm = fx.GraphModule(net, graph)
    like = next(net.parameters(), torch.zeros(()))  # a meta-device module traces without memory
    with torch.no_grad():
        ShapeProp(gm).propagate(torch.zeros(2, *input_shape, dtype=like.dtype, device=like.device))
    return _Walker(net).run(gm.graph)


class _Walker:
    def __init__(self, net: nn.Module) -> None:
        self.net = net
        self.groups = _Groups()
        self.labels: dict[fx.Node, _Label | None] = {}
        self.records: dict[str, tuple[int | None, int | None, int]] = {}  # key -> out, in, block
        self.layers: dict[str, str] = {}  # module path -> kind
        self.calls: dict[str, int] = {}

    def run(self, graph: fx.Graph) -> WeightSpec:
        for node in graph.nodes:
            self.labels[node] = self.visit(node)
        return self.build()

    # ---- one node -------------------------------------------------------------------------
    def visit(self, node: fx.Node) -> _Label | None:
        if node.op == "output":  # the network's outputs keep their order
            self.fix_inputs(node)
            return None
        if node.op == "placeholder" or "tensor_meta" not in node.meta:
            return None  # the network input (fixed), or a non-tensor value such as x.size(0)
        if node.op == "call_module":
            return self.visit_module(node, self.net.get_submodule(str(node.target)))
        if node.op in ("call_function", "call_method"):
            return self.visit_function(node)
        self.fix_inputs(node)
        return None

    def visit_module(self, node: fx.Node, module: nn.Module) -> _Label | None:
        x = self.labels.get(node.args[0]) if node.args else None
        name = str(node.target)
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.calls[name] > 1 and any(True for _ in module.parameters(recurse=False)):
            self.fix_inputs(node)  # a shared layer: its permutations would have to agree
            for key, (out_g, in_g, _) in self.records.items():
                if key.startswith(name + "."):
                    for g in (out_g, in_g):
                        if g is not None:
                            self.groups.fix(g)
            return None
        if isinstance(module, _CHANNELWISE_MODULES) or _marked_channelwise(module):
            return x
        if isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1:
            return self.flattened(node, x)
        in_dim = len(_shape(node.args[0]))
        if isinstance(module, nn.Linear) and in_dim == 2:
            return self.layer(name, "linear", module.out_features, x)
        if isinstance(module, (nn.Conv1d, nn.Conv2d)) and module.groups == 1 and in_dim > 2:
            return self.layer(name, "conv", module.out_channels, x if x and x.block == 1 else None)
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and x and x.block == 1:
            self.layers[name] = "batchnorm"
            for attr in ("weight", "bias", "running_mean", "running_var"):
                self.records[f"{name}.{attr}"] = (x.group, None, 1)
            return x
        self.fix_inputs(node)
        return None

    def visit_function(self, node: fx.Node) -> _Label | None:
        target = node.target
        first = self.labels.get(node.args[0]) if node.args else None
        if target in _CHANNELWISE_FUNCTIONS or target in _CHANNELWISE_METHODS:
            return first
        if target in _ADDS and len(node.args) == 2:
            a, b = node.args
            if isinstance(a, fx.Node) and isinstance(b, fx.Node):
                la, lb = self.labels.get(a), self.labels.get(b)
                if la and lb and la.block == lb.block and _shape(a) == _shape(b):
                    self.groups.union(la.group, lb.group)
                    return la
                self.fix_inputs(node)
                return None
            return first  # adding a constant keeps channels in place
        if target in _FLATTENS and _is_flatten(node):
            return self.flattened(node, first)
        self.fix_inputs(node)
        return None

    # ---- helpers --------------------------------------------------------------------------
    def layer(self, name: str, kind: str, width: int, x: _Label | None) -> _Label:
        out = self.groups.new(width)
        self.layers[name] = kind
        in_group, block = (x.group, x.block) if x else (None, 1)
        self.records[f"{name}.weight"] = (out, in_group, block)
        self.records[f"{name}.bias"] = (out, None, 1)
        return _Label(out)

    def flattened(self, node: fx.Node, x: _Label | None) -> _Label | None:
        shape = _shape(node.args[0])
        return _Label(x.group, x.block * math.prod(shape[2:])) if x else None

    def fix_inputs(self, node: fx.Node) -> None:
        for arg in node.all_input_nodes:
            label = self.labels.get(arg)
            if label is not None:
                self.groups.fix(label.group)

    def build(self) -> WeightSpec:
        state = {k: v for k, v in self.net.state_dict().items() if v.is_floating_point()}
        numbering: dict[int, int] = {}
        sizes: list[int] = []

        def number(g: int | None) -> int | None:
            if g is None or self.groups.fixed[self.groups.find(g)]:
                return None
            root = self.groups.find(g)
            if root not in numbering:
                numbering[root] = len(sizes)
                sizes.append(self.groups.size[root])
            return numbering[root]

        tensors = tensor_specs({k: v.shape for k, v in state.items()}, self.records, number)
        layers: dict[str, list[str]] = {}
        for key in state:
            layers.setdefault(key.rpartition(".")[0], []).append(key)
        specs = tuple(
            LayerSpec(name, self.layers.get(name, "other"), tuple(keys))
            for name, keys in layers.items()
        )
        return WeightSpec(tensors, specs, tuple(sizes))


def _shape(node: object) -> tuple[int, ...]:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else ()


def _is_flatten(node: fx.Node) -> bool:
    """True when the node reshapes (B, C, ...) to (B, C * ...)."""
    before, after = _shape(node.args[0]), _shape(node)
    return len(before) > 2 and len(after) == 2 and after == (before[0], math.prod(before[1:]))
