"""The swing equation of a grid of second-order oscillators, batched over trajectories.

    d theta_i / dt = omega_i
    d omega_i / dt = P_i - alpha omega_i - K sum_j A_ij sin(theta_i - theta_j)

A batch row holds one trajectory: its state is ``y = [theta | omega]`` of shape (B, 2N), and its
grid's lines are given per row as padded index lists ``src``/``dst`` (B, E) with ``weight`` (B, E)
= K on real lines and 0 on padding, so trajectories of different grids share one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.powergrid.growth import Grid


@dataclass
class GridTensors:
    """The grids of a batch as padded tensors on one device (float64 / int64)."""

    power: torch.Tensor  # (G, N)
    src: torch.Tensor  # (G, E)
    dst: torch.Tensor  # (G, E)
    weight: torch.Tensor  # (G, E), K on lines, 0 on padding
    theta: torch.Tensor  # (G, N) synchronous phases

    @classmethod
    def stack(cls, grids: list[Grid], device: str | torch.device = "cpu") -> GridTensors:
        sizes = {g.num_nodes for g in grids}
        assert len(sizes) == 1, "one batch holds grids of one size"
        e_max = max(len(g.edges) for g in grids)
        src = np.zeros((len(grids), e_max), dtype=np.int64)
        dst = np.zeros((len(grids), e_max), dtype=np.int64)
        weight = np.zeros((len(grids), e_max))
        for i, g in enumerate(grids):
            src[i, : len(g.edges)], dst[i, : len(g.edges)] = g.edges[:, 0], g.edges[:, 1]
            weight[i, : len(g.edges)] = g.coupling
        as64 = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        return cls(
            as64(np.stack([g.power for g in grids])),
            as64(src),
            as64(dst),
            as64(weight),
            as64(np.stack([g.theta for g in grids])),
        )


def swing_rhs(
    y: torch.Tensor,
    power: torch.Tensor,
    src: torch.Tensor,
    dst: torch.Tensor,
    weight: torch.Tensor,
    damping: float,
) -> torch.Tensor:
    """dy/dt for states ``y`` (B, 2N); ``power`` (B, N), ``src``/``dst``/``weight`` (B, E)."""
    n = power.shape[1]
    theta, omega = y[:, :n], y[:, n:]
    flow = theta.gather(1, src).sub_(theta.gather(1, dst)).sin_().mul_(weight)  # (B, E)
    out = torch.empty_like(y)
    out[:, :n] = omega
    domega = torch.mul(omega, -damping, out=out[:, n:]).add_(power)  # a view: no concat
    domega.scatter_add_(1, dst, flow).scatter_add_(1, src, flow.neg_())
    return out


def numpy_rhs(grid: Grid, damping: float) -> Callable[[float, np.ndarray], np.ndarray]:
    """The same right-hand side for one trajectory in NumPy (for scipy's solve_ivp)."""
    a = grid.adjacency() * grid.coupling
    n, power = grid.num_nodes, grid.power

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        theta, omega = y[:n], y[n:]
        coupling = (a * np.sin(theta[:, None] - theta[None, :])).sum(1)
        return np.concatenate([omega, power - damping * omega - coupling])

    return rhs


def edge_rhs(grid: Grid, damping: float) -> Callable[[float, np.ndarray], np.ndarray]:
    """The same right-hand side for one trajectory in NumPy over the edge list (sparse: one
    sine per line, summed into the nodes by ``np.bincount``), as `swing_rhs` computes it."""
    n, power = grid.num_nodes, grid.power
    src, dst = np.ascontiguousarray(grid.edges[:, 0]), np.ascontiguousarray(grid.edges[:, 1])
    coupling = float(grid.coupling)

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        theta, omega = y[:n], y[n:]
        flow = coupling * np.sin(theta[src] - theta[dst])
        lines = np.bincount(dst, flow, n) - np.bincount(src, flow, n)
        return np.concatenate([omega, power - damping * omega + lines])

    return rhs


def perturbed_states(
    grid: Grid, perturbations: int, phase_range: float, frequency_range: float, seed: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Initial states of the single-node perturbations of every node, node-major.

    Returns theta0, omega0 of shape (N * M, N) and the perturbed node of each row (N * M,):
    rows n*M ... n*M + M - 1 kick node n only by theta_n += U(-phase_range, phase_range) and
    omega_n = U(-frequency_range, frequency_range).
    """
    n, m = grid.num_nodes, perturbations
    rng = np.random.default_rng(np.random.SeedSequence(list(seed)))
    dphase = rng.uniform(-phase_range, phase_range, size=(n, m))
    domega = rng.uniform(-frequency_range, frequency_range, size=(n, m))
    node = np.repeat(np.arange(n), m)
    rows = np.arange(n * m)
    theta0 = np.tile(grid.theta, (n * m, 1))
    theta0[rows, node] += dphase.reshape(-1)
    omega0 = np.zeros((n * m, n))
    omega0[rows, node] = domega.reshape(-1)
    return theta0, omega0, node
