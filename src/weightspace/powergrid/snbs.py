"""Single-node basin stability (SNBS) and survivability of every node of a list of grids.

SNBS_n is the share of M random single-node perturbations of node n after which the grid returns
to synchrony (max_j |omega_j| < tol when the trajectory stops); its Monte-Carlo standard error
is at most 0.5 / sqrt(M). Survivability_n is the share whose largest frequency deviation over
the whole trajectory stays below a threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from weightspace.devices import resolve_device
from weightspace.errors import ConfigError
from weightspace.powergrid.config import SimulationConfig
from weightspace.powergrid.dynamics import GridTensors, perturbed_states
from weightspace.powergrid.growth import Grid
from weightspace.powergrid.integrator import StopRule, integrate


@dataclass(frozen=True)
class NodeStability:
    """Per node of one grid (n,); ``returned`` (n, M) per perturbation."""

    snbs: np.ndarray
    survivability: np.ndarray
    returned: np.ndarray
    mean_t_final: float


def node_stability(
    grids: list[Grid],
    config: SimulationConfig,
    seeds: list[tuple[int, ...]],
    progress: Callable[[int], None] | None = None,
    stop: str | StopRule | None = None,
) -> list[NodeStability]:
    """SNBS and survivability of every node of ``grids`` (all of one size), one batch.

    ``seeds[i]`` seeds the perturbations of ``grids[i]``; ``progress`` gets the number of
    trajectories finished since its last call; ``stop`` the early-stop rule (see `StopRule`;
    default ``dwell``).

    Example:
        >>> grid = make_grid(PowerGridConfig(nodes=20), seed=(0, 0))
        >>> (result,) = node_stability([grid], SimulationConfig(perturbations=100), [(0, 0, 1)])
        >>> result.snbs.shape  # (20,)
    """
    if len(grids) != len(seeds):
        raise ConfigError("seeds", f"one seed per grid ({len(grids)})", len(seeds))
    if len({g.num_nodes for g in grids}) > 1:
        raise ConfigError(
            "grids", "grids of one size per call", sorted({len(g.power) for g in grids})
        )
    device = resolve_device(config.device, "device")
    m = config.perturbations
    states, index = [], []
    for i, (grid, seed) in enumerate(zip(grids, seeds, strict=True)):
        theta0, omega0, _ = perturbed_states(
            grid, m, config.phase_range, config.frequency_range, seed
        )
        states.append(np.concatenate([theta0, omega0], axis=1))
        index.append(np.full(len(theta0), i))
    y0 = torch.as_tensor(np.concatenate(states), device=device)
    result = integrate(
        GridTensors.stack(grids, device),
        torch.as_tensor(np.concatenate(index), device=device),
        y0,
        config,
        progress,
        stop,
    )
    out, start = [], 0
    for grid in grids:
        stop = start + grid.num_nodes * m
        returned = result.returned[start:stop].reshape(grid.num_nodes, m)
        survived = result.survived[start:stop].reshape(grid.num_nodes, m)
        out.append(
            NodeStability(
                snbs=returned.mean(1),
                survivability=survived.mean(1),
                returned=returned,
                mean_t_final=float(result.t_final[start:stop].mean()),
            )
        )
        start = stop
    return out
