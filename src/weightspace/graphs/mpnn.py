"""Message-passing baselines with the same interface as `DBGNN` (``index_add_``, no PyG needed).

- `MPNN`: the DBGNN's skeleton (encoders, K layers of T shared steps, raw-input skips, head)
  with a residual message-passing step in place of the Dirac step, so depth and size match:
  x <- x + act(x W_self + mean over incoming edges of (x_s W_msg + e_l W_edge)).
- `GCN`: Kipf & Welling's graph convolution, x <- act(D^-1/2 (A + I) D^-1/2 x W), one weight per
  layer; the classic diffusive network for the Dirichlet-energy diagnostic.
"""

from __future__ import annotations

import torch
from torch import nn

from weightspace.graphs.data import GraphLike
from weightspace.graphs.dbgnn import DBGNNConfig, _edge_features, activation_fn, mean_pool


class MessagePassingStep(nn.Module):
    def __init__(self, config: DBGNNConfig) -> None:
        super().__init__()
        d = config.hidden_node
        self.w_self = nn.Linear(d, d)
        self.w_msg = nn.Linear(d, d, bias=False)
        self.w_edge = nn.Linear(config.hidden_edge, d, bias=False)
        self.drop = nn.Dropout(config.dropout_node)
        self.act = activation_fn(config.activation)

    def forward(self, x: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """x (n, d), e (m, d_e) -> (n, d)."""
        src, dst = edge_index
        messages = self.w_msg(x)[src] + e  # (m, d): e was projected once per layer
        total = torch.zeros_like(x).index_add_(0, dst, messages)
        degree = torch.bincount(dst, minlength=len(x)).clamp(min=1).unsqueeze(1)
        return x + self.act(self.drop(self.w_self(x) + total / degree))


class MPNN(nn.Module):
    """A residual MPNN of the DBGNN's depth (K x T steps) and about its size (the edge states
    stay at their encoded inputs). Use ``activation='relu'``: without it the network is linear."""

    def __init__(self, config: DBGNNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.node_encoder = nn.Linear(c.node_in, c.hidden_node)
        self.edge_encoder = nn.Linear(c.edge_in, c.hidden_edge)
        self.steps = nn.ModuleList(MessagePassingStep(c) for _ in range(c.layers))
        self.node_skip = nn.Linear(c.node_in + c.hidden_node, c.hidden_node)
        self.head = nn.Linear(c.hidden_node, c.out)

    def node_states(
        self, graph: GraphLike, trace: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        x_in = graph.x
        x, e = self.node_encoder(x_in), self.edge_encoder(_edge_features(graph))
        for step in self.steps:
            e_msg = step.w_edge(e)  # (m, d): the edge states never change
            for _ in range(self.config.steps):
                x = step(x, e_msg, graph.edge_index)
                if trace is not None:
                    trace.append(x.detach())
            x = self.node_skip(torch.cat([x_in, x], 1))
        return x

    def embed(self, graph: GraphLike) -> torch.Tensor:
        x = self.node_states(graph)
        return mean_pool(x, graph) if self.config.readout == "graph" else x

    def forward(self, graph: GraphLike) -> torch.Tensor:
        return self.head(self.embed(graph))


def gcn_propagate(x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 x for an edge list holding both directions: x (n, d) -> (n, d)."""
    n = len(x)
    loops = torch.arange(n, device=x.device)
    src = torch.cat([edge_index[0], loops])
    dst = torch.cat([edge_index[1], loops])
    degree = torch.bincount(dst, minlength=n).to(x.dtype)
    norm = (degree[src] * degree[dst]).rsqrt().unsqueeze(1)  # (m + n, 1)
    return torch.zeros_like(x).index_add_(0, dst, x[src] * norm)


class GCN(nn.Module):
    """``layers`` graph convolutions of width ``hidden`` on node features only."""

    def __init__(self, node_in: int, hidden: int, layers: int, activation: str = "relu") -> None:
        super().__init__()
        widths = [node_in] + [hidden] * layers
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.act = activation_fn(activation)

    def node_states(
        self, graph: GraphLike, trace: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = graph.x
        for linear in self.linears:
            x = self.act(gcn_propagate(linear(x), graph.edge_index))
            if trace is not None:
                trace.append(x.detach())
        return x
