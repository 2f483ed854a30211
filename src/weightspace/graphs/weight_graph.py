"""A neural network as a graph: neurons (channels) as nodes, weights as edges, from its spec.

Nodes: one per channel of every permutation group of the `WeightSpec` (so a permuted network is
the same graph with its nodes relabelled), plus fixed nodes for the network's inputs and outputs.
A residual stream is one group, so every layer that writes to it writes to the same nodes.
Node features: the mean of each kind of per-channel vector that lands on the node (bias,
BatchNorm weight/bias/running mean/running var, other) with a presence flag each, and the node
kind (input, hidden, output). Edges: for a weight (c_out, c_in, *kernel) one edge c_in -> c_out
whose features are the kernel's kh*kw entries; a linear layer after a flatten gets one edge per
(conv channel, neuron) whose features are the channel's block of H*W weights. Edge features are
zero-padded to a common length and followed by the layer kind (conv, linear, other) and the
direction (+1 forward, -1 for the reverse copy every edge also gets).

A tensor whose input axis is fixed reads the previous layer's fixed outputs when the sizes
match (a hidden layer the spec could not permute), otherwise new input nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from weightspace.graphs.data import Graph, batch_shared_layout
from weightspace.spec import WeightSpec

NODE_SLOTS = ("bias", "bn_weight", "bn_bias", "bn_mean", "bn_var", "other")
NODE_KINDS = ("input", "hidden", "output")
EDGE_KINDS = ("conv", "linear", "other")
_BN_SLOTS = {"weight": "bn_weight", "bias": "bn_bias", "running_mean": "bn_mean",
             "running_var": "bn_var"}  # fmt: skip


@dataclass(frozen=True)
class WeightGraphLayout:
    """Where every weight goes in the graph; built once per spec, applied to flat weights.

    node_kind (N,), edge_index (2, M) forward edges, edge_kind (M,), edge_gather (M, F) and
    node_gather (N, S, R): flat-vector indices, -1 for padding.
    """

    node_kind: torch.Tensor
    edge_index: torch.Tensor
    edge_kind: torch.Tensor
    edge_gather: torch.Tensor
    node_gather: torch.Tensor
    node_sets: dict[str, tuple[int, int]]  # name -> (first node, count)

    @property
    def num_nodes(self) -> int:
        return len(self.node_kind)

    @property
    def node_dim(self) -> int:
        return 2 * len(NODE_SLOTS) + len(NODE_KINDS)

    @property
    def edge_dim(self) -> int:
        return self.edge_gather.shape[1] + len(EDGE_KINDS) + 1

    def graphs(self, flat: torch.Tensor) -> Graph:
        """Flat weights (B, P) -> a batch of B graphs with both directions of every edge.

        Example:
            >>> layout = weight_graph_layout(spec)
            >>> batch = layout.graphs(zoo.flat(rows))  # x (B*N, node_dim)
        """
        b = len(flat)
        padded = torch.cat([flat, flat.new_zeros(b, 1)], 1)  # index -1 reads the zero column
        values = padded[:, self.edge_gather]  # (B, M, F)
        kind = torch.nn.functional.one_hot(self.edge_kind, len(EDGE_KINDS)).to(flat)
        kind = kind.expand(b, -1, -1)  # (B, M, 3)
        ones = flat.new_ones(b, len(self.edge_kind), 1)
        edges = torch.cat(
            [torch.cat([values, kind, ones], 2), torch.cat([values, kind, -ones], 2)], 1
        )  # (B, 2M, F + 4)
        slots = padded[:, self.node_gather]  # (B, N, S, R)
        present = (self.node_gather >= 0).to(flat)  # (N, S, R)
        count = present.sum(2)  # (N, S)
        means = slots.sum(3) / count.clamp(min=1)  # (B, N, S)
        flags = (count > 0).to(flat).expand(b, -1, -1)
        node_kind = torch.nn.functional.one_hot(self.node_kind, len(NODE_KINDS)).to(flat)
        x = torch.cat([means, flags, node_kind.expand(b, -1, -1)], 2)  # (B, N, node_dim)
        both = torch.cat([self.edge_index, self.edge_index.flip(0)], 1)
        return batch_shared_layout(x, edges, both.to(flat.device))


class _Builder:
    def __init__(self, spec: WeightSpec) -> None:
        self.spec = spec
        self.sets: dict[str, tuple[int, int]] = {}
        self.kinds: list[int] = []
        self.edges: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]] = []
        self.contributions: dict[tuple[int, int], list[int]] = {}
        self.layer_kind = {key: layer.kind for layer in spec.layers for key in layer.keys}

    def node_set(self, name: str, size: int, kind: str) -> int:
        if name not in self.sets:
            self.sets[name] = (len(self.kinds), size)
            self.kinds += [NODE_KINDS.index(kind)] * size
        return self.sets[name][0]

    def weight(self, t, last_out: str | None) -> str:  # noqa: ANN001 - a TensorSpec
        start = self.spec.offsets[t.key]
        fixed_out = t.out_group is None
        out_name = f"out:{t.key}" if fixed_out else f"group{t.out_group}"
        out_first = self.node_set(out_name, t.shape[0], "output" if fixed_out else "hidden")
        if t.in_group is not None:
            in_name, block = f"group{t.in_group}", t.in_block
            in_size = self.spec.group_sizes[t.in_group]
        elif last_out and last_out.startswith("out:") and self.sets[last_out][1] == t.shape[1]:
            in_name, block, in_size = last_out, 1, t.shape[1]  # a fixed hidden layer
            first, size = self.sets[last_out]
            self.kinds[first : first + size] = [NODE_KINDS.index("hidden")] * size
        else:
            in_name, block, in_size = f"in:{t.key}", 1, t.shape[1]
        in_first = self.node_set(in_name, in_size, "input")
        assert in_size * block == t.shape[1], t
        kernel = math.prod(t.shape[2:])
        o, i = torch.meshgrid(torch.arange(t.shape[0]), torch.arange(in_size), indexing="ij")
        o, i = o.reshape(-1), i.reshape(-1)  # (out * in,)
        width = block * kernel
        gather = start + (o * t.shape[1] + i * block).unsqueeze(1) * kernel + torch.arange(width)
        kind = self.layer_kind.get(t.key, "other")
        kind_id = EDGE_KINDS.index(kind) if kind in EDGE_KINDS else EDGE_KINDS.index("other")
        self.edges.append((in_first + i, out_first + o, gather, kind_id))
        return out_name

    def vector(self, t, last_out: str | None) -> None:  # noqa: ANN001 - a TensorSpec
        name = f"group{t.out_group}" if t.out_group is not None else last_out
        if name is None or self.sets[name][1] != t.shape[0]:  # a vector of no known layer
            name = f"out:{t.key}"
            self.node_set(name, t.shape[0], "output")
        first = self.sets[name][0]
        attr = t.key.rpartition(".")[2]
        kind = self.layer_kind.get(t.key, "other")
        if kind == "batchnorm" and attr in _BN_SLOTS:
            slot = _BN_SLOTS[attr]
        else:
            slot = "bias" if kind in ("conv", "linear") and attr == "bias" else "other"
        start = self.spec.offsets[t.key]
        for j in range(t.shape[0]):
            self.contributions.setdefault((first + j, NODE_SLOTS.index(slot)), []).append(start + j)

    def build(self) -> WeightGraphLayout:
        last_out = None
        for t in self.spec.tensors:
            if len(t.shape) >= 2:
                last_out = self.weight(t, last_out)
            elif len(t.shape) == 1:
                self.vector(t, last_out)
        width = max(g.shape[1] for *_, g, _ in self.edges)
        gather = torch.cat(
            [
                torch.nn.functional.pad(g, (0, width - g.shape[1]), value=-1)
                for *_, g, _ in self.edges
            ]
        )
        depth = max((len(v) for v in self.contributions.values()), default=1)
        node_gather = torch.full((len(self.kinds), len(NODE_SLOTS), depth), -1)
        for (node, slot), indices in self.contributions.items():
            node_gather[node, slot, : len(indices)] = torch.tensor(indices)
        return WeightGraphLayout(
            node_kind=torch.tensor(self.kinds),
            edge_index=torch.stack(
                [torch.cat([s for s, *_ in self.edges]), torch.cat([t for _, t, *_ in self.edges])]
            ),
            edge_kind=torch.cat([torch.full((len(s),), k) for s, _, _, k in self.edges]),
            edge_gather=gather,
            node_gather=node_gather,
            node_sets=dict(self.sets),
        )


def weight_graph_layout(spec: WeightSpec) -> WeightGraphLayout:
    """The graph layout of every network with weight-space ``spec``.

    Example:
        >>> layout = weight_graph_layout(weight_spec(ArchConfig("cnn-s", input_shape=(1, 8, 8))))
        >>> layout.num_nodes  # 1 input + 8 + 6 + 4 + 20 hidden + 10 outputs
        49
    """
    return _Builder(spec).build()
