"""How signals travel: Dirichlet energy per step, impulse responses by hop distance, test graphs.

Dirichlet energy E(X) = tr(X^T L X) / tr(X^T X) with the combinatorial Laplacian L = D - A:
0 for a constant signal, large for one that alternates between neighbours. Diffusive networks
(GCN) drive it to 0 layer after layer (over-smoothing); a Dirac network need not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import torch

from weightspace.errors import ConfigError
from weightspace.graphs.data import Graph, both_directions, undirected_pairs

GRAPH_FAMILIES = ("path", "ring", "ladder", "grid")


def dirichlet_energy(x: torch.Tensor, edge_index: torch.Tensor) -> float:
    """tr(X^T L X) / tr(X^T X) for node states x (n, d); each line counts once, whether the
    edge list holds one or both directions.

    Example:
        >>> dirichlet_energy(torch.ones(5, 3), path_graph(5))  # constant: no energy
        0.0
    """
    s, t = undirected_pairs(edge_index)
    num = (x[s] - x[t]).pow(2).sum()
    den = x.pow(2).sum()
    return float(num / den) if den > 0 else 0.0


def path_graph(n: int) -> torch.Tensor:
    """(2, 2(n-1)) both directions of 0 - 1 - ... - (n-1)."""
    i = torch.arange(n - 1)
    return both_directions(torch.stack([i, i + 1]))


def ring_graph(n: int) -> torch.Tensor:
    i = torch.arange(n)
    return both_directions(torch.stack([i, (i + 1) % n]))


def grid_graph(rows: int, cols: int) -> torch.Tensor:
    """Node r * cols + c; lines to the right and downward neighbours."""
    ids = torch.arange(rows * cols).view(rows, cols)
    right = torch.stack([ids[:, :-1].reshape(-1), ids[:, 1:].reshape(-1)])
    down = torch.stack([ids[:-1].reshape(-1), ids[1:].reshape(-1)])
    return both_directions(torch.cat([right, down], 1))


def family_graph(family: str, size: int) -> tuple[torch.Tensor, int]:
    """Edge list and node count of a test graph whose diameter grows with ``size``."""
    if family == "path":
        return path_graph(size), size
    if family == "ring":
        return ring_graph(2 * size), 2 * size
    if family == "ladder":
        return grid_graph(2, size), 2 * size
    if family == "grid":
        side = max(2, size // 2)
        return grid_graph(side, side), side * side
    raise ConfigError("family", f"one of {', '.join(GRAPH_FAMILIES)}", family)


def hop_distances(edge_index: torch.Tensor, num_nodes: int, source: int) -> np.ndarray:
    """Breadth-first hop distance of every node from ``source`` (-1 where unreachable), (n,)."""
    neighbours: list[list[int]] = [[] for _ in range(num_nodes)]
    for s, t in edge_index.T.tolist():
        neighbours[s].append(t)
    dist = np.full(num_nodes, -1)
    dist[source] = 0
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for nb in neighbours[node]:
            if dist[nb] < 0:
                dist[nb] = dist[node] + 1
                queue.append(nb)
    return dist


Tracer = Callable[[Graph, list], torch.Tensor]


@torch.no_grad()
def energy_trace(node_states: Tracer, graph: Graph) -> list[float]:
    """Dirichlet energy of the node states after every step (or layer) a model records.

    ``node_states`` is a model's ``node_states`` method (DBGNN, MPNN, GCN).
    """
    trace: list[torch.Tensor] = []
    node_states(graph, trace)
    return [dirichlet_energy(x, graph.edge_index) for x in trace]


@torch.no_grad()
def impulse_response(
    node_states: Tracer, edge_index: torch.Tensor, num_nodes: int, node_in: int, source: int = 0
) -> np.ndarray:
    """Mean feature magnitude by hop distance after every step, (steps, max hop + 1).

    The input is 1 on every feature of ``source`` and 0 elsewhere; the response to an all-zero
    input is subtracted, so biases do not count as signal.
    """
    m = edge_index.shape[1]
    impulse = torch.zeros(num_nodes, node_in)
    impulse[source] = 1.0
    runs = []
    for x in (impulse, torch.zeros_like(impulse)):
        trace: list[torch.Tensor] = []
        node_states(Graph(x, edge_index, torch.zeros(m, 1)), trace)
        runs.append(torch.stack(trace))  # (steps, n, d)
    magnitude = (runs[0] - runs[1]).norm(dim=2).numpy()  # (steps, n)
    dist = hop_distances(edge_index, num_nodes, source)
    hops = dist.max() + 1
    return np.stack([magnitude[:, dist == h].mean(1) for h in range(hops)], 1)


def arrival_step(response: np.ndarray, threshold: float = 1e-12) -> np.ndarray:
    """First step at which each hop distance carries signal above ``threshold``, (hops,);
    -1 where it never does."""
    above = response > threshold  # (steps, hops)
    first = above.argmax(0)
    return np.where(above.any(0), first, -1)
