"""The batched SNBS simulator against scipy's solve_ivp (DOP853, tight tolerances), one run.

Both integrate the same single-node perturbations of the same grids with the same early stop
(t >= 1 and max|omega| <= 0.1, else t = 500). Printed: trajectories/s of each and their ratio,
how many trajectories the two classify differently, the largest per-node SNBS difference
against the Monte-Carlo standard error, and the extrapolated time of a 1,000-grid, 20-node
dataset at M = 200.

Wall time and CPU time (time.process_time) are both printed: on a shared machine the CPU time
per trajectory is the steadier figure. The batch only stays full (and fast) when there are many
more trajectories than its size: use at least ~20 grids x M = 50 for a rate that extrapolates.

    python benchmarks/snbs_simulation.py                    # 20 grids x 20 nodes x M = 50
    python benchmarks/snbs_simulation.py --scipy-nodes 2 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from scipy.integrate import solve_ivp

from weightspace.powergrid import (
    GridConfig,
    SimulationConfig,
    make_grid,
    node_stability,
    numpy_rhs,
    perturbed_states,
)


def scipy_returned(grid, y0: np.ndarray, config: SimulationConfig, rtol: float) -> bool:
    """One trajectory by DOP853 with the simulator's stopping rule; True if it returned."""
    n = grid.num_nodes

    def synchronised(t: float, y: np.ndarray) -> float:
        if t < config.t_min:
            return 1.0
        return float(np.abs(y[n:]).max() - config.sync_tolerance)

    synchronised.terminal, synchronised.direction = True, -1
    sol = solve_ivp(
        numpy_rhs(grid, config.damping),
        (0.0, config.t_max),
        y0,
        method="DOP853",
        rtol=rtol,
        atol=rtol,
        events=synchronised,
    )
    return bool(np.abs(sol.y[n:, -1]).max() < config.sync_tolerance + 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--grids", type=int, default=20)
    parser.add_argument("--perturbations", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=SimulationConfig().batch_size)
    parser.add_argument("--scipy-nodes", type=int, default=1, help="nodes of grid 0 for scipy")
    parser.add_argument("--scipy-rtol", type=float, default=1e-10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = SimulationConfig(
        perturbations=args.perturbations, batch_size=args.batch_size, threads=args.threads
    )
    m = args.perturbations
    grids = [make_grid(GridConfig(nodes=args.nodes), (args.seed, i)) for i in range(args.grids)]
    seeds = [(args.seed, i, 1) for i in range(args.grids)]

    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    ours = node_stability(grids, config, seeds)
    ours_seconds, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    ours_count = args.grids * args.nodes * m
    ours_rate = ours_count / ours_seconds

    theta0, omega0, node = perturbed_states(grids[0], m, np.pi, 15.0, seeds[0])
    rows = np.flatnonzero(node < args.scipy_nodes)
    start, cpu = time.perf_counter(), time.process_time()
    reference = np.array(
        [
            scipy_returned(
                grids[0], np.concatenate([theta0[r], omega0[r]]), config, args.scipy_rtol
            )
            for r in rows
        ]
    )
    scipy_seconds, scipy_cpu = time.perf_counter() - start, time.process_time() - cpu
    scipy_rate = len(rows) / scipy_seconds
    load = (load + os.getloadavg()[0]) / 2

    batched = ours[0].returned[: args.scipy_nodes].reshape(-1)
    flipped = int((batched != reference).sum())
    snbs_ref = reference.reshape(args.scipy_nodes, m).mean(1)
    snbs_ours = ours[0].snbs[: args.scipy_nodes]
    difference = float(np.abs(snbs_ref - snbs_ours).max())
    mc_error = float(np.max(np.sqrt(np.maximum(snbs_ref * (1 - snbs_ref), 1 / m) / m)))
    print(
        f"config: rtol {config.rtol}, atol {config.atol}, batch {config.batch_size}, "
        f"{args.threads} thread(s); scipy DOP853 rtol = atol = {args.scipy_rtol}; "
        f"{os.cpu_count()} CPUs, load average {load:.1f} during the run"
    )
    for name, count, wall, cpu in (
        ("batched torch  ", ours_count, ours_seconds, ours_cpu),
        ("scipy solve_ivp", len(rows), scipy_seconds, scipy_cpu),
    ):
        print(
            f"{name}: {count:6d} trajectories in {wall:8.1f} s wall = {count / wall:8.2f} traj/s;"
            f" CPU {cpu:8.1f} s = {cpu / count * 1e3:9.2f} ms CPU per trajectory"
        )
    print(
        f"speed-up per trajectory: {ours_rate / scipy_rate:.0f}x (wall), "
        f"{(scipy_cpu / len(rows)) / (ours_cpu / ours_count):.0f}x (CPU time)"
    )
    print(f"classified differently: {flipped} of {len(rows)} trajectories")
    print(
        f"largest SNBS difference over {args.scipy_nodes} node(s): {difference:.3f} "
        f"(Monte-Carlo standard error at M = {m}: {mc_error:.3f})"
    )
    total = 1000 * 20 * 200
    cpu_hours = total * ours_cpu / ours_count / 3600
    print(
        f"extrapolated 1,000 grids x 20 nodes x M = 200 ({total:,} trajectories): "
        f"{total / ours_rate / 3600:.1f} h at this wall rate, "
        f"{cpu_hours:.1f} CPU-hours ({cpu_hours / 2:.1f} h on 2 uncontended cores)"
    )
    print(f"mean SNBS of the batched run: {np.mean([o.snbs.mean() for o in ours]):.3f}")


if __name__ == "__main__":
    main()
