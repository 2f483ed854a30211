"""Synthetic power grids: random growth topology, power injections and the synchronous state.

Topology: the random growth model of Schultz, Heitzig & Kurths (2014), "A random growth model
for power grids and other spatially embedded infrastructure networks". Nodes lie uniformly in
[-1, 1]^2. Starting from a spanning tree of ``n0`` nodes, every step either (probability 1 - s)
adds a node linked to its nearest node, then with probability p links it also to the non-neighbour
l maximizing f(i, l) = (d_G(i, l) + 1)^r / dist(i, l) (d_G: hop distance, before the new line),
then with probability q links a random existing node to its f-maximizing non-neighbour; or
(probability s) splits a random line by a new node at its midpoint.

Power: P = +1 on a random half of the nodes, -1 on the rest. Operating point: the root of
P_i - K sum_j A_ij sin(theta_i - theta_j) = 0 by Newton's method from the linear (DC) guess
theta = pinv(K L) P. A grid whose iteration fails, or whose root has a line with a phase difference
beyond pi/2 (not a stable operating point), is redrawn from the same random stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from weightspace.errors import ConfigError
from weightspace.powergrid.config import PowerGridConfig


@dataclass(frozen=True)
class Grid:
    """One grid. ``edges`` (E, 2) holds every line once with s < t; ``theta`` the fixed point."""

    positions: np.ndarray  # (n, 2) float64 in [-1, 1]^2
    edges: np.ndarray  # (E, 2) int64
    power: np.ndarray  # (n,) float64, +1 or -1
    theta: np.ndarray  # (n,) float64, synchronous phases (mean 0)
    coupling: float
    seed: tuple[int, ...]
    redraws: int

    @property
    def num_nodes(self) -> int:
        return len(self.power)

    def adjacency(self) -> np.ndarray:
        """(n, n) 0/1 adjacency matrix."""
        a = np.zeros((self.num_nodes, self.num_nodes))
        a[self.edges[:, 0], self.edges[:, 1]] = 1.0
        a[self.edges[:, 1], self.edges[:, 0]] = 1.0
        return a


def _hops(neighbours: list[set[int]], start: int) -> np.ndarray:
    """Hop distance from ``start`` to every node (BFS); unreachable nodes get a large number."""
    dist = np.full(len(neighbours), 10**6, dtype=np.int64)
    dist[start] = 0
    todo = deque([start])
    while todo:
        i = todo.popleft()
        for j in neighbours[i]:
            if dist[j] > dist[i] + 1:
                dist[j] = dist[i] + 1
                todo.append(j)
    return dist


def _best_partner(pos: np.ndarray, neighbours: list[set[int]], i: int, r: float) -> int | None:
    """The non-neighbour l of i maximizing (d_G(i, l) + 1)^r / dist(i, l), or None."""
    n = len(neighbours)
    hops = _hops(neighbours, i)
    dist = np.linalg.norm(pos[:n] - pos[i], axis=1)
    score = (hops + 1.0) ** r / np.maximum(dist, 1e-12)
    blocked = np.zeros(n, dtype=bool)
    blocked[i] = True
    blocked[list(neighbours[i])] = True
    if blocked.all():
        return None
    score[blocked] = -np.inf
    return int(np.argmax(score))


def _link(neighbours: list[set[int]], i: int, j: int) -> None:
    neighbours[i].add(j)
    neighbours[j].add(i)


def _initial_tree(pos: np.ndarray, n0: int) -> list[set[int]]:
    """A Euclidean minimum spanning tree of the first ``n0`` nodes (Prim)."""
    neighbours: list[set[int]] = [set() for _ in range(n0)]
    inside = {0}
    while len(inside) < n0:
        a, b = min(
            ((a, b) for a in inside for b in range(n0) if b not in inside),
            key=lambda ab: np.linalg.norm(pos[ab[0]] - pos[ab[1]]),
        )
        _link(neighbours, a, b)
        inside.add(b)
    return neighbours


def grow_topology(
    config: PowerGridConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (n, 2) and undirected lines (E, 2) of one random-growth grid."""
    n = config.nodes
    pos = np.empty((n, 2))
    pos[: config.n0] = rng.uniform(-1, 1, size=(config.n0, 2))
    neighbours = _initial_tree(pos, config.n0)
    # as in the published model, the initial tree gets its share of extra lines
    for _ in range(round(config.n0 * (1 - config.s) * (config.p + config.q))):
        i = int(rng.integers(len(neighbours)))
        partner = _best_partner(pos, neighbours, i, config.r)
        if partner is not None:
            _link(neighbours, i, partner)
    while len(neighbours) < n:
        i = len(neighbours)
        lines = [(a, b) for a in range(i) for b in neighbours[a] if a < b]
        if rng.random() < config.s and lines:
            a, b = lines[int(rng.integers(len(lines)))]
            pos[i] = (pos[a] + pos[b]) / 2
            neighbours[a].discard(b)
            neighbours[b].discard(a)
            neighbours.append(set())
            _link(neighbours, i, a)
            _link(neighbours, i, b)
            continue
        pos[i] = rng.uniform(-1, 1, size=2)
        nearest = int(np.argmin(np.linalg.norm(pos[:i] - pos[i], axis=1)))
        neighbours.append(set())
        _link(neighbours, i, nearest)
        if rng.random() < config.p:
            partner = _best_partner(pos, neighbours, i, config.r)
            if partner is not None:
                _link(neighbours, i, partner)
        if rng.random() < config.q:
            j = int(rng.integers(i + 1))
            partner = _best_partner(pos, neighbours, j, config.r)
            if partner is not None:
                _link(neighbours, j, partner)
    edges = np.array([(a, b) for a in range(n) for b in sorted(neighbours[a]) if a < b])
    return pos, edges.reshape(-1, 2).astype(np.int64)


def power_flow_residual(theta: np.ndarray, power: np.ndarray, a: np.ndarray, k: float):
    """P_i - K sum_j A_ij sin(theta_i - theta_j), shape (n,): zero at a fixed point."""
    return power - k * (a * np.sin(theta[:, None] - theta[None, :])).sum(1)


def fixed_point(
    power: np.ndarray, a: np.ndarray, k: float, tol: float = 1e-12, steps: int = 50
) -> np.ndarray | None:
    """The synchronous phases (mean 0) by Newton from the DC guess, or None if not found."""
    laplacian = np.diag(a.sum(1)) - a
    theta = np.linalg.pinv(k * laplacian) @ power
    for _ in range(steps):
        residual = power_flow_residual(theta, power, a, k)
        if np.abs(residual).max() < tol:
            break
        weights = k * a * np.cos(theta[:, None] - theta[None, :])
        jacobian = np.diag(weights.sum(1)) - weights  # d(flow)/d(theta), singular along 1
        theta = theta + np.linalg.lstsq(jacobian, residual, rcond=None)[0]
        theta -= theta.mean()
    else:
        return None
    if not np.isfinite(theta).all():
        return None
    i, j = np.nonzero(a)
    if np.abs(theta[i] - theta[j]).max(initial=0.0) >= np.pi / 2:
        return None  # a line beyond pi/2: not a stable operating point
    return theta


def make_grid(config: PowerGridConfig, seed: int | tuple[int, ...]) -> Grid:
    """Draw one grid; the same ``config`` and ``seed`` give the same grid.

    Example:
        >>> grid = make_grid(PowerGridConfig(nodes=20), seed=(0, 7))
        >>> grid.edges.shape  # (E, 2), E about 27 for 20 nodes
    """
    seeds = (seed,) if isinstance(seed, int) else tuple(seed)
    rng = np.random.default_rng(np.random.SeedSequence(list(seeds)))
    for redraw in range(config.max_redraws):
        pos, edges = grow_topology(config, rng)
        power = np.where(rng.permutation(config.nodes) < config.nodes // 2, 1.0, -1.0)
        grid = Grid(pos, edges, power, np.zeros(config.nodes), config.coupling, seeds, redraw)
        theta = fixed_point(power, grid.adjacency(), config.coupling)
        if theta is not None:
            return Grid(pos, edges, power, theta, config.coupling, seeds, redraw)
    raise ConfigError(
        "coupling",
        f"a coupling under which grids have a stable operating point "
        f"(none in {config.max_redraws} draws)",
        config.coupling,
        "Raise --coupling or --max-redraws",
    )
