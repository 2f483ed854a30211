"""The batched SNBS simulator against scipy's solve_ivp, like for like, and against DOP853.

Speed, like for like: our batched Dormand-Prince 5(4) against ``scipy.integrate.solve_ivp`` with
``method="RK45"`` (the same Dormand-Prince 5(4) pair) at the SAME rtol / atol, with the same
edge-list right-hand side (one sine per line, summed into the nodes by np.bincount; see
`weightspace.powergrid.edge_rhs`), one trajectory at a time, and the same early stop (t >= 1 and
max|omega| <= 0.1, else t = 500; the published rule, not the package's default dwell rule) as a
terminal event. Both run on one thread; the figure is CPU time per trajectory
(time.process_time). Differences that remain: scipy's step controller
(growth up to 10x per step, its own first step) and its phases are not wrapped to [-pi, pi), so
its relative tolerance on a rotating node's phase loosens as the phase grows (in its favour).

Accuracy: scipy DOP853 at rtol = atol = 1e-10 is the reference only. Printed: how many labels
(returned or not) differ from it, and the largest deviation of our final states from DOP853
integrated to the same final time.

The batch only stays full (and fast) when there are many more trajectories than its size: use
at least ~20 grids x M = 50 for a rate that extrapolates.

    python benchmarks/snbs_simulation.py                 # 20 grids x 20 nodes x M = 50
    python benchmarks/snbs_simulation.py --quick         # a smoke run with tiny sizes
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from weightspace.powergrid import (
    PowerGridConfig,
    SimulationConfig,
    TrajectoryResult,
    edge_rhs,
    make_grid,
    node_stability,
    perturbed_states,
)
from weightspace.powergrid.dynamics import GridTensors
from weightspace.powergrid.integrator import integrate


def stop_event(n: int, config: SimulationConfig):
    """The early stop as a terminal event: max|omega| reaches the tolerance, t >= t_min."""

    def synchronised(t: float, y: np.ndarray) -> float:
        if t < config.t_min:
            return 1.0
        return float(np.abs(y[n:]).max() - config.sync_tolerance)

    synchronised.terminal, synchronised.direction = True, -1
    return synchronised


def scipy_run(grid, y0: np.ndarray, config: SimulationConfig, method: str, rtol: float, atol):
    """One trajectory with the early stop; (returned, t_final)."""
    n = grid.num_nodes
    sol = solve_ivp(
        edge_rhs(grid, config.damping),
        (0.0, config.t_max),
        y0,
        method=method,
        rtol=rtol,
        atol=atol,
        events=stop_event(n, config),
    )
    return bool(np.abs(sol.y[n:, -1]).max() < config.sync_tolerance + 1e-9), float(sol.t[-1])


def reference_state(grid, y0: np.ndarray, t_final: float, config: SimulationConfig) -> np.ndarray:
    """DOP853 at rtol = atol = 1e-10 to ``t_final`` (no early stop): the state there."""
    rhs = edge_rhs(grid, config.damping)
    sol = solve_ivp(rhs, (0.0, t_final), y0, method="DOP853", rtol=1e-10, atol=1e-10)
    return sol.y[:, -1]


def _ours_one_grid(grid, y0: np.ndarray, config: SimulationConfig) -> TrajectoryResult:
    index = torch.zeros(len(y0), dtype=torch.long)
    return integrate(
        GridTensors.stack([grid]), index, torch.as_tensor(y0), config, stop="published"
    )


def _wrapped(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _scipy_timing(grid, y0, config) -> tuple[np.ndarray, float]:
    cpu = time.process_time()
    labels = [scipy_run(grid, y, config, "RK45", config.rtol, config.atol)[0] for y in y0]
    return np.array(labels), time.process_time() - cpu


def _accuracy(grid, y0, ours: TrajectoryResult, config) -> None:
    """Labels and final states of ours against DOP853 at 1e-10."""
    n = grid.num_nodes
    labels = np.array([scipy_run(grid, y, config, "DOP853", 1e-10, 1e-10)[0] for y in y0])
    states = np.stack(
        [reference_state(grid, y, t, config) for y, t in zip(y0, ours.t_final, strict=True)]
    )
    phase = np.abs(_wrapped(ours.final_state[:, :n] - states[:, :n])).max(1)
    freq = np.abs(ours.final_state[:, n:] - states[:, n:]).max(1)
    print(
        f"accuracy against DOP853 (rtol = atol = 1e-10), {len(y0)} trajectories: "
        f"{int((labels != ours.returned).sum())} labels differ"
    )
    for name, rows in (("returned", ours.returned), ("not returned", ~ours.returned)):
        if rows.any():
            print(
                f"  final state, {name:12s} ({int(rows.sum()):4d}): max |d theta| "
                f"{phase[rows].max():.2e}, max |d omega| {freq[rows].max():.2e}"
            )


def _print_rates(label: str, count: int, cpu: float) -> float:
    per = cpu / count
    print(
        f"{label}: {count:7d} trajectories, CPU {cpu:8.2f} s = {per * 1e3:8.3f} ms per trajectory"
    )
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--perturbations", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=SimulationConfig().batch_size)
    parser.add_argument("--scipy-nodes", type=int, default=2, help="nodes of grid 0 for scipy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.grids, args.perturbations, args.scipy_nodes = 10, 2, 4, 1
    torch.set_num_threads(1)
    config = SimulationConfig(perturbations=args.perturbations, batch_size=args.batch_size)
    m = args.perturbations
    grids = [
        make_grid(PowerGridConfig(nodes=args.nodes), (args.seed, i)) for i in range(args.grids)
    ]
    seeds = [(args.seed, i, 1) for i in range(args.grids)]
    load = os.getloadavg()[0]
    cpu = time.process_time()
    ours = node_stability(grids, config, seeds, stop="published")  # the rule of the event
    ours_cpu = time.process_time() - cpu

    theta0, omega0, node = perturbed_states(grids[0], m, np.pi, 15.0, seeds[0])
    rows = np.flatnonzero(node < args.scipy_nodes)
    y0 = np.concatenate([theta0, omega0], axis=1)[rows]
    rk45, rk45_cpu = _scipy_timing(grids[0], y0, config)
    load = (load + os.getloadavg()[0]) / 2
    print(
        f"rtol {config.rtol}, atol {config.atol} for both; batch {config.batch_size}; 1 thread; "
        f"{os.cpu_count()} CPUs, load average {load:.1f} during the run"
    )
    ours_per = _print_rates("batched torch DP5(4)     ", args.grids * args.nodes * m, ours_cpu)
    rk45_per = _print_rates("scipy solve_ivp RK45 (1x1)", len(rows), rk45_cpu)
    batched = ours[0].returned[: args.scipy_nodes].reshape(-1)
    print(f"labels: RK45 and ours differ on {int((batched != rk45).sum())} of {len(rows)}")
    _accuracy(grids[0], y0, _ours_one_grid(grids[0], y0, config), config)
    total = 1000 * 20 * 200
    print(
        f"extrapolated 1,000 grids x 20 nodes x M = 200 ({total:,} trajectories): "
        f"{total * ours_per / 3600:.1f} CPU-hours at this rate"
    )
    print(
        "published pipeline (Nauck et al. 2022/2023: M = 10,000 perturbations per node): "
        "no published compute time per trajectory is known; no second anchor"
    )
    print(f"speedup: {rk45_per / ours_per:.1f}x per trajectory (CPU time), like for like")


if __name__ == "__main__":
    main()
