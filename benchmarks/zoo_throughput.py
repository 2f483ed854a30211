"""Population trainer vs a plain per-model PyTorch loop, side by side in one run, and both
against the machine's sustained fp32 matmul rate.

Three cases: CNN-s on the 8x8 digits, CNN-s on the 28x28 mnist5k images, and the Small CNN Zoo
network (Unterthiner et al. 2020) on mnist5k. In each, both trainers train the same models (same
seeds, initialization, data order, Adam, batch size and epochs) and evaluate val/test every
epoch (train running averages), as a zoo needs. Printed per case: throughput in model·epochs/s,
achieved FLOP/s and its share of the fp32 matmul rate (a square ``torch.matmul`` timed in the
same run), the ratio to the per-model loop, and whether the final test accuracies agree.

FLOPs are counted analytically: 2 x the multiply-adds of every conv and linear layer for a
forward pass, a training step as 3 x forward (the backward pass ~ 2 x forward), evaluations as
forward only; activations, pooling, losses and the optimizer are not counted.

The last line is ``speedup: <x>x; 28x28: <f> of matmul, <y>x per-model loop``: the 8x8 CNN-s
ratio to the per-model loop, then the 28x28 CNN-s share of the matmul rate and its ratio.

    python benchmarks/zoo_throughput.py [--models 128] [--epochs 3] [--batch-size 10]
        [--loop-models-28 32] [--matmul 2048] [--quick]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import ks_2samp
from torch import nn

from weightspace.zoo import ArchConfig, DatasetConfig, build_model, load_dataset
from weightspace.zoo.datasets import Splits
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import Population
from weightspace.zoo.reference import train_alone


def forward_flops(arch: ArchConfig) -> int:
    """FLOPs of one image's forward pass: 2 x the multiply-adds of the conv and linear layers.

    A conv's multiply-adds are its output elements x (input channels / groups) x kernel area;
    a linear layer's are in x out features. Counted from the output shapes of a real pass.
    """
    net = build_model(arch)
    macs = 0

    def count(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
            macs += output.numel() * per_output
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in net.modules()]
    with torch.no_grad():
        net.eval()(torch.zeros(1, *arch.input_shape))
    for hook in hooks:
        hook.remove()
    return 2 * macs


def run_flops(arch: ArchConfig, splits: Splits, epochs: int) -> int:
    """FLOPs one model spends in a zoo run: ``epochs`` of training steps (3 x forward per
    image), epoch 0 evaluated on train/val/test, then val/test after every epoch."""
    n_train, n_eval = len(splits.train_x), len(splits.val_x) + len(splits.test_x)
    images = 3 * n_train * epochs + (n_train + n_eval) + n_eval * epochs
    return forward_flops(arch) * images


def matmul_rate(size: int, repeats: int) -> float:
    """Sustained fp32 FLOP/s of ``size`` x ``size`` matmuls: one warm-up, then ``repeats``
    timed back to back (2 size^3 FLOPs each)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.matmul(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.matmul(a, b)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


@dataclass(frozen=True)
class Case:
    label: str
    arch: str
    dataset: DatasetConfig
    loop_models: int | None  # models trained by the per-model loop (None: all)


def run_case(case: Case, args: argparse.Namespace, matmul: float) -> tuple[float, float]:
    """Train one case with both trainers; print its lines; return (share of matmul, ratio)."""
    splits = load_dataset(case.dataset)
    arch = ArchConfig(case.arch, splits.input_shape, splits.num_classes, "tanh", args.dropout)
    specs = [ModelSpec(i, i + 1, arch, "adam", 1e-3, 1e-4) for i in range(args.models)]
    loop_specs = specs[: case.loop_models or len(specs)]
    start = time.perf_counter()
    result = Population(specs, splits, args.batch_size).train(args.epochs)
    population_s = time.perf_counter() - start
    population_acc = result.metrics[: len(loop_specs), -1, 5].numpy()
    start = time.perf_counter()
    plain_acc = np.array(
        [train_alone(s, splits, args.epochs, args.batch_size)[1][-1][5] for s in loop_specs]
    )
    plain_s = time.perf_counter() - start
    population_rate = len(specs) * args.epochs / population_s
    plain_rate = len(loop_specs) * args.epochs / plain_s
    flops = run_flops(arch, splits, args.epochs)
    achieved = flops * len(specs) / population_s
    share, ratio = achieved / matmul, population_rate / plain_rate
    print(
        f"{case.label}: {forward_flops(arch) / 1e3:.0f} kFLOP forward, "
        f"{len(splits.train_x)} training images"
    )
    print(
        f"  population: {population_s:8.2f} s  {population_rate:8.2f} model·epochs/s  "
        f"{achieved / 1e9:7.3f} GFLOP/s = {share:.4f} of matmul"
    )
    print(
        f"  plain loop: {plain_s:8.2f} s  {plain_rate:8.2f} model·epochs/s  "
        f"({len(loop_specs)} models; {flops * len(loop_specs) / plain_s / 1e9:.3f} GFLOP/s)"
    )
    same = ks_2samp(population_acc, plain_acc).pvalue if len(plain_acc) > 1 else float("nan")
    print(
        f"  {ratio:.1f}x per-model loop; test acc mean {population_acc.mean():.4f} vs "
        f"{plain_acc.mean():.4f}, max |difference| per model "
        f"{np.abs(population_acc - plain_acc).max():.4f}, KS p = {same:.3f} "
        f"({'agree' if not same <= 0.05 else 'DIFFER'})"
    )
    return share, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument(
        "--loop-models-28",
        type=int,
        default=32,
        help="models the per-model loop trains at 28x28 (rates are per model·epoch)",
    )
    parser.add_argument("--matmul", type=int, default=2048, help="matmul size (square)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny sizes")
    args = parser.parse_args()
    fraction = 1.0
    if args.quick:
        args.models, args.epochs, args.loop_models_28, args.matmul = 4, 1, 2, 256
        fraction = 0.05
    matmul = matmul_rate(args.matmul, 3 if args.quick else 10)
    print(
        f"{args.models} models per case, {args.epochs} epochs, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads; fp32 matmul {args.matmul}^2: "
        f"{matmul / 1e9:.2f} GFLOP/s"
    )
    cases = [
        Case("cnn-s 8x8 (digits)", "cnn-s", DatasetConfig("digits", train_fraction=fraction), None),
        Case(
            "cnn-s 28x28 (mnist5k)",
            "cnn-s",
            DatasetConfig("mnist5k", train_fraction=fraction),
            args.loop_models_28,
        ),
        Case(
            "smallcnn 28x28 (mnist5k)",
            "smallcnn",
            DatasetConfig("mnist5k", train_fraction=fraction),
            args.loop_models_28,
        ),
    ]
    (_, speedup), (share_28, ratio_28), _ = [run_case(c, args, matmul) for c in cases]
    print(
        f"speedup: {speedup:.1f}x; 28x28: {share_28:.4f} of matmul, {ratio_28:.1f}x per-model loop"
    )


if __name__ == "__main__":
    main()
