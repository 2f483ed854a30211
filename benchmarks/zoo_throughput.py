"""Population trainer vs a plain per-model PyTorch loop, side by side in one run.

Both train the same digits CNN-s models (same seeds, initialization, data order, Adam, batch
size and epochs) and evaluate train/val/test every epoch, as a zoo needs. Prints both
throughputs in model·epochs/s, compares the final test-accuracy distributions, and ends with
``speedup: <ratio>x``.

    python benchmarks/zoo_throughput.py [--models 128] [--epochs 3] [--batch-size 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import ks_2samp

from weightspace.zoo import ArchConfig, DatasetConfig, load_dataset
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import Population
from weightspace.zoo.reference import train_alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--dropout", type=float, default=0.0)
    args = parser.parse_args()
    splits = load_dataset(DatasetConfig("digits"))
    arch = ArchConfig("cnn-s", splits.input_shape, 10, "tanh", args.dropout, "uniform")
    specs = [ModelSpec(i, i + 1, arch, "adam", 1e-3, 1e-4) for i in range(args.models)]
    work = args.models * args.epochs
    print(
        f"{args.models} x cnn-s on digits, {args.epochs} epochs, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads"
    )

    start = time.perf_counter()
    result = Population(specs, splits, args.batch_size).train(args.epochs)
    population_s = time.perf_counter() - start
    population_acc = result.metrics[:, -1, 5].numpy()

    start = time.perf_counter()
    plain_acc = np.array(
        [train_alone(s, splits, args.epochs, args.batch_size)[1][-1][5] for s in specs]
    )
    plain_s = time.perf_counter() - start

    print(f"population: {population_s:8.2f} s  {work / population_s:8.2f} model·epochs/s")
    print(f"plain loop: {plain_s:8.2f} s  {work / plain_s:8.2f} model·epochs/s")
    for name, acc in (("population", population_acc), ("plain loop", plain_acc)):
        print(
            f"{name} test acc: mean {acc.mean():.4f} std {acc.std():.4f} "
            f"min {acc.min():.4f} max {acc.max():.4f}"
        )
    same = ks_2samp(population_acc, plain_acc).pvalue
    print(
        f"max |acc difference| per model: {np.abs(population_acc - plain_acc).max():.4f}; "
        f"KS test p = {same:.3f} ({'agree' if same > 0.05 else 'DIFFER'})"
    )
    print(f"speedup: {plain_s / population_s:.1f}x")


if __name__ == "__main__":
    main()
