"""Sparsified twins: the study on a digits zoo, then population vs per-model throughput.

1. ``twins-2023``: train a digits zoo (``digits-demo``: 128 models; ``--quick``: 32), sparsify
   every model by magnitude pruning (11 levels) and by variational dropout, compare twins
   and originals (accuracy vs sparsity, agreement, kappa, correlations, the MP/VD crossover).
2. Throughput: the same sparsification work on ``--models`` networks (one population) and in a
   plain per-model loop (`nn.Module` + `torch.optim`): variational dropout for one epoch plus
   magnitude pruning at one level with one fine-tuning epoch, evaluating before and after.
   Ends with ``speedup: <ratio>x``.

    python benchmarks/sparsify.py [--quick] [--out runs/twins] [--models 128] [--skip-study]
                                  [--plain-models K]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from weightspace.reproduce.registry import get, markdown
from weightspace.reproduce.twins import reproduce_twins
from weightspace.sparsify import SparsifyConfig
from weightspace.sparsify.methods import magnitude_twins, variational_twins
from weightspace.sparsify.reference import magnitude_alone, variational_alone
from weightspace.zoo import ArchConfig, DatasetConfig, build_model, load_dataset
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.reference import evaluate


def study(out: Path, quick: bool) -> None:
    start = time.perf_counter()
    result = reproduce_twins(out, quick=quick)
    wall = time.perf_counter() - start
    command = f"python benchmarks/sparsify.py{' --quick' if quick else ''} --out {out}"
    try:
        print(markdown(result, get("twins-2023"), command, wall))
    except Exception:  # noqa: BLE001 - the registry entry may not exist yet; print the parts
        print(f"{result.setup}\nwall {wall:.0f} s")
        for row in result.rows:
            print(f"{row.measure}: paper {row.paper}, ours {row.ours_text()} {row.note}")
        print("\n".join(result.tables + result.notes))


def throughput(models: int, batch_size: int, plain_models: int) -> None:
    splits = load_dataset(DatasetConfig("digits"))
    arch = ArchConfig("cnn-s", splits.input_shape, 10, "tanh", 0.0, "uniform")
    specs = [ModelSpec(i, i + 1, arch, "adam", 1e-3, 0.0) for i in range(models)]
    states = []
    for spec in specs:  # initial weights stand in for trained ones: the work is the same
        torch.manual_seed(spec.seed)
        states.append(build_model(arch).state_dict())
    start = {k: torch.stack([s[k] for s in states]) for k in states[0]}
    vd = SparsifyConfig(method="vd", vd_epochs=1)
    mp = SparsifyConfig(sparsity=(0.8,), finetune_epochs=1)
    print(
        f"{models} x cnn-s on digits, batch {batch_size}, {torch.get_num_threads()} threads: "
        "VD 1 epoch + MP (80 %, 1 fine-tuning epoch), evaluated before and after"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    variational_twins(specs, start, splits, batch_size, vd)
    magnitude_twins(specs, start, splits, batch_size, mp)
    population_s, population_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    for i, spec in enumerate(specs[:plain_models]):
        state = {k: v[i] for k, v in start.items()}
        twins = (
            variational_alone(spec, state, splits, batch_size, vd),
            magnitude_alone(spec, state, 0.8, splits, batch_size, mp),
        )
        for twin in twins:  # evaluated before and after, as the population does
            net = build_model(arch)
            net.load_state_dict(state)
            evaluate(net, splits)
            net.load_state_dict(twin)
            evaluate(net, splits)
    plain_s, plain_cpu = time.perf_counter() - t0, time.process_time() - c0
    # rates in model·epochs per second (wall, and per CPU-second: robust on a shared machine)
    pop_rate, plain_rate = 2 * models / population_s, 2 * plain_models / plain_s
    pop_cpu_rate, plain_cpu_rate = 2 * models / population_cpu, 2 * plain_models / plain_cpu
    print(
        f"population ({models} models): {population_s:8.2f} s wall, {population_cpu:8.2f} s CPU"
        f"  {pop_rate:8.2f} model·epochs/s ({pop_cpu_rate:.2f} per CPU-s)"
    )
    print(
        f"plain loop ({plain_models} models): {plain_s:8.2f} s wall, {plain_cpu:8.2f} s CPU"
        f"  {plain_rate:8.2f} model·epochs/s ({plain_cpu_rate:.2f} per CPU-s)"
    )
    if plain_models < models:
        print(
            f"(plain loop timed on {plain_models} of the {models} models: every model costs "
            "the same there, so rates compare)"
        )
    print(f"speedup (CPU time): {pop_cpu_rate / plain_cpu_rate:.1f}x")
    print(f"speedup: {pop_rate / plain_rate:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/twins")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--plain-models", type=int, help="time the per-model loop on this many (default: all)"
    )
    args = parser.parse_args()
    if not args.skip_study:
        study(Path(args.out), args.quick)
    if not args.skip_throughput:
        throughput(args.models, args.batch_size, args.plain_models or args.models)


if __name__ == "__main__":
    main()
