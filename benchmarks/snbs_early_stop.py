"""Does the SNBS early stop change labels? The same perturbations with and without it.

The published rule (Nauck et al. 2022, 2023) ends a trajectory at the first accepted step with
t >= 1 and max_j |omega_j| <= 0.1. A trajectory can meet that at a turning point, or while calm
near a saddle, and still desynchronise later. This integrates the same single-node
perturbations of the same grids with the published stop, with a dwell-time stop (the condition
held for ``--dwell`` time units without a break), with a phase check (also every line's phase
difference within ``--phase`` rad of the fixed point's), and to t_max = 500 with no early stop
(the reference). Printed: how many labels (returned or not) each early stop gets wrong against
the reference, which perturbations (grid, node, draw), and the CPU time.

    python benchmarks/snbs_early_stop.py                     # 4 grids x 20 nodes x M = 50
    python benchmarks/snbs_early_stop.py --quick             # a smoke run
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from weightspace.powergrid import PowerGridConfig, SimulationConfig, make_grid, node_stability
from weightspace.powergrid.integrator import StopRule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--grids", type=int, default=4)
    parser.add_argument("--perturbations", type=int, default=50)
    parser.add_argument("--dwell", type=float, default=5.0, help="window of the dwell rule")
    parser.add_argument("--phase", type=float, default=0.1, help="rad, of the phase rule")
    parser.add_argument(
        "--noise-floor",
        type=int,
        metavar="BATCH",
        help="also run to t_max with this batch size: labels that differ from the reference "
        "then come from rounding (a row's rounding depends on its batch), not from a stop rule",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 grids x 10 nodes x M = 4")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.grids, args.perturbations = 10, 2, 4
    torch.set_num_threads(1)
    config = SimulationConfig(perturbations=args.perturbations, threads=1)
    grids = [
        make_grid(PowerGridConfig(nodes=args.nodes), (args.seed, i)) for i in range(args.grids)
    ]
    seeds = [(args.seed, i, 1) for i in range(args.grids)]
    cpu = time.process_time()
    reference = node_stability(grids, config, seeds, stop="none")
    full_cpu = time.process_time() - cpu
    truth = np.concatenate([r.returned.reshape(-1) for r in reference])
    print(
        f"{args.grids} grids x {args.nodes} nodes x M = {args.perturbations}: {len(truth)} "
        f"perturbations, {truth.mean():.3f} returned at t_max = {config.t_max:g} "
        f"({full_cpu:.1f} s CPU without early stop)"
    )
    rules = {
        "published": StopRule(),
        f"dwell {args.dwell:g}": StopRule(dwell=args.dwell),
        f"phase {args.phase:g}": StopRule(phase=args.phase),
    }
    if args.noise_floor:
        other = replace(config, batch_size=args.noise_floor)
        again = node_stability(grids, other, seeds, stop="none")
        labels = np.concatenate([r.returned.reshape(-1) for r in again])
        print(
            f"noise floor: runs to t_max with batch {args.noise_floor} instead of "
            f"{config.batch_size}: {int((labels != truth).sum())} of {len(truth)} labels differ"
        )
    for name, rule in rules.items():
        cpu = time.process_time()
        early = node_stability(grids, config, seeds, stop=rule)
        seconds = time.process_time() - cpu
        labels = np.concatenate([r.returned.reshape(-1) for r in early])
        wrong = labels != truth
        pairs = zip(early, reference, strict=True)
        print(
            f"stop {name:>12s}: {int(wrong.sum())} of {len(truth)} labels differ from the run "
            f"to t_max ({int((labels & ~truth).sum())} counted returned that are not); "
            f"{seconds:.1f} s CPU; largest SNBS change "
            f"{max(np.abs(a.snbs - b.snbs).max() for a, b in pairs):.3f}"
        )
        per_grid = args.nodes * args.perturbations
        for row in np.flatnonzero(wrong):
            grid, rest = divmod(int(row), per_grid)
            print(
                f"    differs: grid {grid}, node {rest // args.perturbations}, draw "
                f"{rest % args.perturbations} (seed {(args.seed, grid, 1)})"
            )


if __name__ == "__main__":
    main()
