"""MP versus VD on twin zoos already made: the crossover paired per model, and unpaired.

    python benchmarks/twins_crossover.py ORIGINAL MP_TWIN VD_TWIN [--split 0.8]

Prints, below and at/above ``--split`` sparsity, each model's final VD twin minus its own
original's magnitude-pruning curve at the same sparsity (mean over independent units: models,
or the seed-init groups of a fixed-seed grid; 95 % bootstrap interval over the units, none
below 8 units) with what the interval says of the paper's direction, and the same twins
against the population's mean pruning curve.
"""

from __future__ import annotations

import argparse

from weightspace.sparsify.compare import compare_twins, crossover, summary_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original")
    parser.add_argument("mp_twin")
    parser.add_argument("vd_twin")
    parser.add_argument("--split", type=float, default=0.8)
    args = parser.parse_args()
    mp = compare_twins(args.original, args.mp_twin)
    vd = compare_twins(args.original, args.vd_twin)
    print(summary_table([mp, vd]))
    cross = crossover(mp, vd, args.split)
    parts = (("paired per model", cross), ("against the mean MP curve", cross["unpaired"]))
    for label, part in parts:
        for side in ("below", "above"):
            r = part[side]
            print(
                f"VD - MP {side} {args.split:.0%} sparsity, {label}: {r['text']} "
                f"(test_units {r['test_units']}, unit {r['unit']}, {r['n']} models): "
                f"{r['finding']}"
            )


if __name__ == "__main__":
    main()
