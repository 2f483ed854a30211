"""Zoo properties from weight graphs: DBGNN and MPNN vs W, s(W) and SANE, same splits.

    weightspace zoo create --preset digits-demo-quick --out zoo
    weightspace fit --model sane --preset tiny --zoo zoo --out sane      # optional
    python benchmarks/dbgnn_weights.py --zoo zoo [--encoder sane] [--epochs 80]

Prints the probe table (test R^2 per target) and the ratio of each weight-graph network's R^2
to the best of the other methods per target.
"""

from __future__ import annotations

import argparse
import time

import torch

from weightspace.encoders import load_encoder
from weightspace.graphs.weight_probe import WeightGraphConfig, WeightGraphFeatures
from weightspace.probe.features import EncoderFeatures, FlatWeights, WeightStatistics
from weightspace.probe.run import run_probes
from weightspace.zoo import open_zoo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--encoder", help="a SANE directory written by `weightspace fit`")
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args()
    torch.set_num_threads(1)
    zoo = open_zoo(args.zoo)
    methods = [FlatWeights(), WeightStatistics()]
    if args.encoder:
        methods.append(EncoderFeatures(load_encoder(args.encoder), "SANE"))
    graph_methods = [
        WeightGraphFeatures(WeightGraphConfig(model=m, epochs=args.epochs))
        for m in ("dbgnn", "mpnn")
    ]
    start = time.time()
    report = run_probes(zoo, [*methods, *graph_methods])
    print(report.markdown())
    print(f"({len(zoo)} checkpoints of {zoo.num_models} models, {time.time() - start:.0f} s)")
    for g in graph_methods:
        for target, mine in report.scores[g.name].items():
            others = {m.name: report.scores[m.name][target] for m in methods}
            best = max(others, key=others.get)
            print(f"{g.name} vs best other ({best}) on {target}: {mine:.3f} vs {others[best]:.3f}")


if __name__ == "__main__":
    main()
