"""The swing equation of a grid of second-order oscillators, batched over trajectories.

    d theta_i / dt = omega_i
    d omega_i / dt = P_i - alpha omega_i - K sum_j A_ij sin(theta_i - theta_j)

Two batched forms of the right-hand side:

- ``swing_rhs``: a row per trajectory, ``y = [theta | omega]`` of shape (B, 2N), each row with its
  grid's padded line lists ``src``/``dst``/``weight`` (B, E) (K on lines, 0 on padding).
- ``column_rhs`` (what the integrator uses): a *column* per trajectory, ``y`` of shape (2N, B),
  columns sorted by grid so that each grid's columns form one segment. A segment's flows are
  then ``index_select``/``index_add_`` of whole node rows with the grid's own line list (one
  index shared by all its trajectories), instead of an index per element: measured 2x fewer
  CPU seconds per evaluation at N = 20 and 1.8x at N = 100, and every elementwise operation
  runs along the long batch dimension.
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


@dataclass(frozen=True)
class Segment:
    """The columns ``start:stop`` of a batch that belong to one grid, and that grid's lines."""

    start: int
    stop: int
    src: torch.Tensor  # (E_g,) int64
    dst: torch.Tensor  # (E_g,) int64
    weight: torch.Tensor  # (E_g, 1) coupling per line


@dataclass(frozen=True)
class Scattered:
    """Columns of grids with few columns each, served together by an index per column."""

    columns: torch.Tensor  # (S,) int64
    src: torch.Tensor  # (E, S) padded line lists (padding: weight 0)
    dst: torch.Tensor  # (E, S)
    weight: torch.Tensor  # (E, S)


@dataclass(frozen=True)
class LinePlan:
    """How ``column_rhs`` finds each column's lines: shared per grid segment, or per column."""

    segments: list[Segment]
    scattered: Scattered | None


def grid_lines(grids: GridTensors) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per grid, its real lines (padding dropped): src (E_g,), dst (E_g,), weight (E_g, 1)."""
    out = []
    for src, dst, weight in zip(grids.src, grids.dst, grids.weight, strict=True):
        real = weight != 0
        out.append((src[real], dst[real], weight[real][:, None]))
    return out


def line_plan(grid: torch.Tensor, grids: GridTensors, lines: list, min_columns: int = 256):
    """The plan for columns of grids ``grid`` (B,), sorted so each grid's columns are adjacent.

    A grid with at least ``min_columns`` columns gets a segment (a few operations per segment
    and evaluation); the others share one per-column gather, so many grids with a few
    straggling trajectories each do not cost a few operations each.
    """
    ids, counts = torch.unique_consecutive(grid, return_counts=True)
    segments, small, start = [], [], 0
    for g, c in zip(ids.tolist(), counts.tolist(), strict=True):
        if c >= min_columns:
            segments.append(Segment(start, start + c, *lines[g]))
        else:
            small.append(torch.arange(start, start + c, device=grid.device))
        start += c
    if not small:
        return LinePlan(segments, None)
    columns = torch.cat(small)
    g = grid[columns]
    pad = (grids.src[g].T, grids.dst[g].T, grids.weight[g].T)
    return LinePlan(segments, Scattered(columns, *(t.contiguous() for t in pad)))


def column_rhs(
    y: torch.Tensor,
    power: torch.Tensor,
    plan: LinePlan,
    damping: float,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """dy/dt for states ``y`` (2N, B), one column per trajectory; ``power`` (N, B).

    Each column's line flows are summed in its grid's line order from zero, then added to
    P - alpha omega, whichever way the plan serves it: a trajectory's numbers do not depend
    on how many columns of its grid share the batch.
    """
    n = power.shape[0]
    theta, omega = y[:n], y[n:]
    out = torch.empty_like(y) if out is None else out
    out[:n] = omega
    coupling = torch.zeros_like(theta)
    for s in plan.segments:
        phase = theta[:, s.start : s.stop]
        flow = phase.index_select(0, s.src).sub_(phase.index_select(0, s.dst))
        flow.sin_().mul_(s.weight)  # (E_g, B_g): K sin(theta_src - theta_dst)
        target = coupling[:, s.start : s.stop]
        target.index_add_(0, s.dst, flow).index_add_(0, s.src, flow, alpha=-1)
    if plan.scattered is not None:
        c = plan.scattered
        phase = theta.index_select(1, c.columns)
        flow = phase.gather(0, c.src).sub_(phase.gather(0, c.dst)).sin_().mul_(c.weight)
        total = torch.zeros_like(phase).scatter_add_(0, c.dst, flow)
        coupling.index_add_(1, c.columns, total.scatter_add_(0, c.src, flow.neg_()))
    torch.mul(omega, -damping, out=out[n:]).add_(power).add_(coupling)
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
