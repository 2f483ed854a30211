"""Dirac–Bianconi graph neural networks (Nauck, Gorantla, Lindner, Schürholt, Mey, Hellmann 2024).

Nodes and edges both carry states. One step, both updates from the *previous* states, for every
directed edge l = (s -> t) of an edge list that holds both directions of every line:

    E'_l = E_l + (X_t - X_s) W_en + E_l beta_e^T
    X'_i = X_i + (sum over edges l with t(l) = i of E_l) W_ne + X_i beta_n^T

then dropout and the activation. The node update sums the incoming edge states *unsigned*: a
``scatter_add`` (``index_add_``) of E_l over the target index t(l), as the authors' released code
does; in matrix form X' = X + B_in E W_ne + X beta_n^T with B_in[i, l] = 1 if t(l) = i, else 0.
Edges leaving a node do not enter its sum, with neither sign. The edge update is signed,
X_t - X_s = (B^T X)_l with the signed incidence matrix B (B[t(l), l] = +1, B[s(l), l] = -1).

Relation to the topological Dirac operator D = [[0, B], [B^T, 0]] of the papers: the edge update
is its B^T block exactly; the node update equals its B block only when the two directions of
every line hold opposite states (E_(s->t) = -E_(t->s)), because then the unsigned sum over the
incoming direction of each line equals the signed sum over one direction per line. One linear
step keeps opposite states opposite, but the model does not start from them: the edge encoder
gives both directions of a line the same input (for power grids, K on both), and the skips (with
biases and the raw inputs) and ReLU / LeakyReLU are not odd. So in general the node update is
the unsigned incoming sum, not B E. With D, node signals change by edge differences and edges
feed back into nodes, so a signal travels like a wave (one hop per two steps) instead of
diffusing.

A layer applies one step T times with shared weights; after every layer the raw inputs are
re-injected, x <- Linear([x_in || x]) (the same for edges), the skip linears shared by all
layers. Init: W ~ delta * N(0, 1), beta_e = +delta * I, beta_n = -delta * I.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from weightspace.errors import ConfigError, check_choice
from weightspace.graphs.data import GraphLike, node_batch

ACTIVATIONS = ("none", "relu", "leaky_relu", "tanh")
READOUTS = ("node", "graph")


@dataclass(frozen=True)
class DBGNNConfig:
    """Sizes and settings of a `DBGNN`; ``readout='graph'`` mean-pools the nodes."""

    node_in: int = field(default=1, metadata={"help": "node input features"})
    edge_in: int = field(default=1, metadata={"help": "edge input features"})
    out: int = field(default=1, metadata={"help": "outputs per node (or per graph)"})
    hidden_node: int = field(default=32, metadata={"help": "node state width d_n"})
    hidden_edge: int = field(default=32, metadata={"help": "edge state width d_e"})
    layers: int = field(default=4, metadata={"help": "K layers, each followed by a skip"})
    steps: int = field(default=12, metadata={"help": "T Dirac steps per layer (shared weights)"})
    delta: float = field(default=0.01, metadata={"help": "init scale of W and beta"})
    activation: str = field(default="none", metadata={"help": "after every step"})
    dropout_node: float = field(default=0.0, metadata={"help": "dropout on node states"})
    dropout_edge: float = field(default=0.0, metadata={"help": "dropout on edge states"})
    readout: str = field(default="node", metadata={"help": "node: per-node output; graph: mean"})

    def __post_init__(self) -> None:
        for name in ("node_in", "edge_in", "out", "hidden_node", "hidden_edge", "layers", "steps"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(name, "an integer >= 1", getattr(self, name))
        if not self.delta > 0:
            raise ConfigError("delta", "a positive init scale", self.delta)
        for name in ("dropout_node", "dropout_edge"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(name, "a rate in [0, 1)", getattr(self, name))
        check_choice("activation", self.activation, ACTIVATIONS)
        check_choice("readout", self.readout, READOUTS)


def activation_fn(name: str) -> nn.Module:
    check_choice("activation", name, ACTIVATIONS)
    return {
        "none": nn.Identity(),
        "relu": nn.ReLU(),
        "leaky_relu": nn.LeakyReLU(0.01),
        "tanh": nn.Tanh(),
    }[name]


class DiracBianconiStep(nn.Module):
    """One Dirac–Bianconi step; a layer calls it T times (its weights are the layer's)."""

    def __init__(self, config: DBGNNConfig) -> None:
        super().__init__()
        dn, de, delta = config.hidden_node, config.hidden_edge, config.delta
        self.w_en = nn.Parameter(delta * torch.randn(dn, de))  # node differences -> edges
        self.w_ne = nn.Parameter(delta * torch.randn(de, dn))  # incoming edges -> nodes
        self.beta_e = nn.Parameter(delta * torch.eye(de))
        self.beta_n = nn.Parameter(-delta * torch.eye(dn))
        self.drop_node = nn.Dropout(config.dropout_node)
        self.drop_edge = nn.Dropout(config.dropout_edge)
        self.act = activation_fn(config.activation)

    def forward(
        self, x: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (n, d_n), e (m, d_e), edge_index (2, m) -> new (x, e), both from the old states.

        e' = e + (x[t] - x[s]) W_en + e beta_e^T per edge (s -> t);
        x' = x + (unsigned sum of e over the edges into each node) W_ne + x beta_n^T.
        """
        src, dst = edge_index
        xw = x @ self.w_en  # (n, d_e): project on nodes, then difference (fewer flops)
        e_new = e + (xw[dst] - xw[src]) + e @ self.beta_e.T  # (m, d_e)
        incoming = torch.zeros(len(x), e.shape[1], dtype=e.dtype, device=e.device)
        # (n, d_e): the unsigned sum of the states of the edges that end at each node (B_in E)
        incoming.index_add_(0, dst, e)
        x_new = x + incoming @ self.w_ne + x @ self.beta_n.T  # (n, d_n)
        return self.act(self.drop_node(x_new)), self.act(self.drop_edge(e_new))


class DBGNN(nn.Module):
    """Input encoders, K layers of T shared steps with raw-input skips, a linear head.

    Example:
        >>> model = DBGNN(DBGNNConfig(node_in=1, edge_in=1, layers=4, steps=12))
        >>> model(graph).shape  # graph: a `Graph` or a PyG batch
        torch.Size([n, 1])
    """

    def __init__(self, config: DBGNNConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.node_encoder = nn.Linear(c.node_in, c.hidden_node)
        self.edge_encoder = nn.Linear(c.edge_in, c.hidden_edge)
        for enc in (self.node_encoder, self.edge_encoder):
            nn.init.zeros_(enc.bias)
        self.steps = nn.ModuleList(DiracBianconiStep(c) for _ in range(c.layers))
        self.node_skip = nn.Linear(c.node_in + c.hidden_node, c.hidden_node)
        self.edge_skip = nn.Linear(c.edge_in + c.hidden_edge, c.hidden_edge)
        self.head = nn.Linear(c.hidden_node, c.out)

    def node_states(
        self, graph: GraphLike, trace: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Final node states (n, d_n); ``trace`` (if given) receives X after every step."""
        x_in, e_in = graph.x, _edge_features(graph)
        x, e = self.node_encoder(x_in), self.edge_encoder(e_in)
        for step in self.steps:
            for _ in range(self.config.steps):
                x, e = step(x, e, graph.edge_index)
                if trace is not None:
                    trace.append(x.detach())
            x = self.node_skip(torch.cat([x_in, x], 1))  # re-inject the raw inputs
            e = self.edge_skip(torch.cat([e_in, e], 1))
        return x

    def embed(self, graph: GraphLike) -> torch.Tensor:
        """Node states (n, d_n), or mean-pooled per graph (B, d_n) for ``readout='graph'``."""
        x = self.node_states(graph)
        return mean_pool(x, graph) if self.config.readout == "graph" else x

    def forward(self, graph: GraphLike) -> torch.Tensor:
        """(n, out) for node tasks, (B, out) for graph tasks."""
        return self.head(self.embed(graph))


def mean_pool(x: torch.Tensor, graph: GraphLike) -> torch.Tensor:
    """Per-graph mean of node rows: x (n, d) -> (B, d)."""
    batch, count = node_batch(graph)
    total = torch.zeros(count, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, batch, x)
    sizes = torch.bincount(batch, minlength=count).clamp(min=1).unsqueeze(1)
    return total / sizes


def _edge_features(graph: GraphLike) -> torch.Tensor:
    attr = getattr(graph, "edge_attr", None)
    if attr is None:  # graphs without edge features: every edge starts from the same input
        return torch.ones(graph.edge_index.shape[1], 1, device=graph.x.device)
    return attr.unsqueeze(1) if attr.dim() == 1 else attr
