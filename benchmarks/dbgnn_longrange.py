"""Long-range benchmark: test accuracy vs hop distance k, DBGNN vs an MPNN of equal depth/width.

    python benchmarks/dbgnn_longrange.py [--distances 2 4 8 12 16 20] [--epochs 25] [--decoys]

Both networks get K x T steps with shared weights per layer; a DBGNN signal needs two steps per
hop (edges hear nodes, then nodes hear edges), an MPNN one, so K x T >= 2 k_max is used.
Chance accuracy is 1 / classes.
"""

from __future__ import annotations

import argparse
import time

import torch

from weightspace.graphs.longrange import LongRangeConfig, run_long_range


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--distances", type=int, nargs="+", default=[2, 4, 8, 12, 16, 20])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--train-graphs", type=int, default=600)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--decoys", action="store_true", help="distractors carry classes too")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small graphs: a second thread only contends on shared cores
    layers = 4
    steps = -(-2 * (max(args.distances) + 1) // layers)  # DBGNN reach K*T/2 >= k_max
    config = LongRangeConfig(
        distances=tuple(args.distances),
        train_graphs=args.train_graphs,
        test_graphs=200,
        hidden=args.hidden,
        layers=layers,
        steps=steps,
        epochs=args.epochs,
        decoys=args.decoys,
    )
    start = time.time()
    results = run_long_range(config)
    print(f"\n{layers} layers x {steps} steps, width {args.hidden}, {args.train_graphs} "
          f"training graphs, {args.epochs} epochs, chance {1 / config.classes:.2f}")  # fmt: skip
    print("| k | DBGNN | MPNN | DBGNN / MPNN |\n|---|---|---|---|")
    for k in config.distances:
        d, m = results["DBGNN"][k], results["MPNN"][k]
        print(f"| {k} | {d:.3f} | {m:.3f} | {d / max(m, 1e-9):.2f} |")
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
