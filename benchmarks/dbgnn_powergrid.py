"""Power-grid SNBS: DBGNN vs the message-passing baselines, in-distribution and 20 -> 100 nodes.

    python benchmarks/dbgnn_powergrid.py --train GRIDS20 --transfer GRIDS100 [--epochs 100]

GRIDS20 / GRIDS100: datasets written by `weightspace grids generate` (or the published layout,
read with --zenodo). Every model is fitted on GRIDS20's training grids with its validation grids
picking the epoch, then scored (R^2 over test nodes) on GRIDS20's test grids and on GRIDS100's
grids (all of them by default: none is trained on). Every model is fitted on ``--seeds``
training seeds (default 3): the table gives the mean over seeds with its interval over seeds
(the seed count and no interval below 8 seeds). The DBGNN takes ``--layers`` / ``--steps``
(default: the published 4 layers x 12 steps).
"""

from __future__ import annotations

import argparse
import time

import torch

from weightspace.powergrid import (
    GridTrainConfig,
    compare_baselines,
    comparison_table,
    open_grid_dataset,
    read_zenodo,
)
from weightspace.stats import paired_estimate, verdict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--transfer", required=True)
    parser.add_argument("--zenodo", action="store_true", help="the published folder layout")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--baselines", nargs="+", default=["tag", "arma", "gcn"])
    parser.add_argument("--hidden", type=int, default=64, help="width of every model")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per model")
    parser.add_argument("--layers", type=int, help="depth of every model (DBGNN default: 4)")
    parser.add_argument("--steps", type=int, help="DBGNN Dirac steps per layer (default 12)")
    parser.add_argument(
        "--transfer-split", default="all", choices=("all", "test"), help="100-node grids scored"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    read = read_zenodo if args.zenodo else (lambda p: open_grid_dataset(p).splits())
    small, large = read(args.train), read(args.transfer)
    transfer = large["test"] if args.transfer_split == "test" else sum(large.values(), [])
    tests = {"20": small["test"], "20 -> 100": transfer}
    config = GridTrainConfig(epochs=args.epochs, hidden=args.hidden)
    if args.layers is not None:
        config = GridTrainConfig(epochs=args.epochs, hidden=args.hidden, layers=args.layers)
    print(
        f"train {len(small['train'])} / valid {len(small['valid'])} / test {len(small['test'])}"
        f" grids; transfer {len(transfer)} grids; {args.epochs} epochs, width {args.hidden}"
    )
    scores, results = {}, {}
    for name in [*args.baselines, "dbgnn"]:
        start = time.time()
        results |= compare_baselines(
            [name], small["train"], small["valid"], tests, config, args.seeds, None,
            args.layers, args.steps,
        )  # fmt: skip
        scores[name.upper()] = {k: results[name][k]["r2"] for k in tests}
        print(f"{name}: {scores[name.upper()]} ({time.time() - start:.0f} s)", flush=True)
    print()
    print(comparison_table(results, list(tests)))
    best = max((n for n in scores if n != "DBGNN"), key=lambda n: scores[n]["20 -> 100"])
    gap = scores["DBGNN"]["20 -> 100"] - scores[best]["20 -> 100"]
    per_seed = lambda n: [r["20 -> 100"]["r2"] for r in results[n.lower()]["per_seed"]]  # noqa: E731
    paired = paired_estimate(per_seed("DBGNN"), per_seed(best), "seed")
    print(
        f"DBGNN - best baseline ({best}) on 20 -> 100: {gap:+.3f} R² (means over seeds); "
        f"paired over seeds {paired.text()}: {verdict(paired.low, paired.high)}"
    )


if __name__ == "__main__":
    main()
