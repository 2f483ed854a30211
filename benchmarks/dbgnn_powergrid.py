"""Power-grid SNBS: DBGNN vs the message-passing baselines, in-distribution and 20 -> 100 nodes.

    python benchmarks/dbgnn_powergrid.py --train GRIDS20 --transfer GRIDS100 [--epochs 100]

GRIDS20 / GRIDS100: datasets written by `weightspace grids generate` (or the published layout,
read with --zenodo). Every model is fitted on GRIDS20's training grids with its validation grids
picking the epoch, then scored (R^2 over test nodes) on GRIDS20's test grids and on GRIDS100's
grids (all of them by default: none is trained on).
"""

from __future__ import annotations

import argparse
import time

import torch

from weightspace.powergrid import GridTrainConfig, open_grid_dataset, read_zenodo, run_baseline


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--transfer", required=True)
    parser.add_argument("--zenodo", action="store_true", help="the published folder layout")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--baselines", nargs="+", default=["tag", "arma", "gcn"])
    parser.add_argument("--hidden", type=int, default=64, help="width of every model")
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
    print(
        f"train {len(small['train'])} / valid {len(small['valid'])} / test {len(small['test'])}"
        f" grids; transfer {len(transfer)} grids; {args.epochs} epochs, width {args.hidden}"
    )
    scores = {}
    for name in [*args.baselines, "dbgnn"]:
        start = time.time()
        result = run_baseline(name, small["train"], small["valid"], tests, config)
        scores[name.upper()] = {k: result[k]["r2"] for k in tests}
        print(f"{name}: {scores[name.upper()]} ({time.time() - start:.0f} s)", flush=True)
    print("\n| model | R² 20 (in-distribution) | R² 20 -> 100 |\n|---|---|---|")
    for name, row in scores.items():
        print(f"| {name} | {row['20']:.3f} | {row['20 -> 100']:.3f} |")
    best = max((n for n in scores if n != "DBGNN"), key=lambda n: scores[n]["20 -> 100"])
    gap = scores["DBGNN"]["20 -> 100"] - scores[best]["20 -> 100"]
    print(f"DBGNN - best baseline ({best}) on 20 -> 100: {gap:+.3f} R²")


if __name__ == "__main__":
    main()
