"""Graphs as plain tensors, interchangeable with PyTorch Geometric's ``Data`` and ``Batch``.

The models of this package read only the attributes ``x``, ``edge_index``, ``edge_attr`` and
``batch`` (and ``num_graphs``), so a PyG batch and a `Graph` work alike; no PyG import is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import torch


class GraphLike(Protocol):
    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor | None


class Graph(NamedTuple):
    """One graph or a batch of disjoint graphs.

    x (n, d_node) node features; edge_index (2, m) rows (source, target), int64; edge_attr
    (m, d_edge); batch (n,) graph index of each node, or None for a single graph; y optional
    targets (node- or graph-level).
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor | None = None
    y: torch.Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return 1 if self.batch is None else int(self.batch.max()) + 1 if len(self.batch) else 0

    def to(self, device: torch.device | str) -> Graph:
        return Graph(*(None if t is None else t.to(device) for t in self))


def node_batch(graph: GraphLike) -> tuple[torch.Tensor, int]:
    """The graph index of every node (n,) and the number of graphs, for PyG or `Graph` input."""
    batch = getattr(graph, "batch", None)
    if batch is None:
        return torch.zeros(len(graph.x), dtype=torch.long, device=graph.x.device), 1
    return batch, int(getattr(graph, "num_graphs", int(batch.max()) + 1))


def collate(graphs: Sequence[Graph]) -> Graph:
    """Concatenate graphs into one batch (node indices shifted, ``batch`` vector filled).

    Example:
        >>> g = Graph(torch.ones(3, 1), torch.tensor([[0, 1], [1, 2]]), torch.ones(2, 1))
        >>> collate([g, g]).edge_index.tolist()
        [[0, 1, 3, 4], [1, 2, 4, 5]]
    """
    sizes = torch.tensor([len(g.x) for g in graphs])
    starts = torch.cumsum(sizes, 0) - sizes
    edge_index = torch.cat(
        [g.edge_index + s for g, s in zip(graphs, starts.tolist(), strict=True)], 1
    )
    batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
    ys = [g.y for g in graphs]
    y = None if any(v is None for v in ys) else torch.cat([v if v.dim() else v.view(1) for v in ys])
    return Graph(
        torch.cat([g.x for g in graphs]),
        edge_index,
        torch.cat([g.edge_attr for g in graphs]),
        batch,
        y,
    )


def batch_shared_layout(
    x: torch.Tensor, edge_attr: torch.Tensor, edge_index: torch.Tensor
) -> Graph:
    """B graphs with one shared edge list: x (B, n, d), edge_attr (B, m, d_e), edge_index (2, m)."""
    b, n = x.shape[:2]
    shift = (torch.arange(b, device=x.device) * n).view(b, 1, 1)  # (B, 1, 1)
    index = (edge_index.unsqueeze(0) + shift).permute(1, 0, 2).reshape(2, -1)  # (2, B*m)
    batch = torch.arange(b, device=x.device).repeat_interleave(n)
    return Graph(x.reshape(b * n, -1), index, edge_attr.reshape(-1, edge_attr.shape[-1]), batch)


def both_directions(edge_index: torch.Tensor) -> torch.Tensor:
    """(2, m) undirected lines -> (2, 2m): every line (s, t) followed by its reverse block."""
    return torch.cat([edge_index, edge_index.flip(0)], 1)


def undirected_pairs(edge_index: torch.Tensor) -> torch.Tensor:
    """The distinct lines {s, t}, s < t, of an edge list that may hold both directions, (2, L)."""
    low, high = edge_index.min(0).values, edge_index.max(0).values
    pairs = torch.stack([low, high])[:, low != high]
    return torch.unique(pairs, dim=1)
