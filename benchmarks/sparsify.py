"""Sparsified twins: the study on a digits zoo, then population vs per-model throughput.

1. ``twins-2023``: train a digits zoo (``digits-demo``: 128 models; ``--quick``: 32), sparsify
   every model by magnitude pruning (11 levels) and by variational dropout, compare twins
   and originals (accuracy vs sparsity, agreement, kappa, correlations, the MP/VD crossover).
2. Throughput: the same sparsification work on ``--models`` networks (one population) and in an
   idiomatic per-model loop, timed side by side in one run: variational dropout for one epoch
   plus magnitude pruning at one level with one fine-tuning epoch, evaluating before and after.
   The loop is what one would write for one model: an ``nn.Module`` whose conv/linear layers
   carry their own log sigma^2 parameters and draw ``torch.randn_like`` noise, the KL summed
   over the layers, ``torch.optim.Adam``; magnitude pruning by
   ``torch.nn.utils.prune.global_unstructured``. Ends with ``speedup: <ratio>x``.

    python benchmarks/sparsify.py [--quick] [--out runs/twins] [--models 128] [--skip-study]
                                  [--plain-models K]

``--quick --skip-study`` is a smoke run (8 models).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from weightspace.reproduce.registry import get, markdown
from weightspace.reproduce.twins import reproduce_twins
from weightspace.sparsify import SparsifyConfig
from weightspace.sparsify.methods import magnitude_twins, variational_twins
from weightspace.sparsify.variational import CLAMP, kl_divergence, log_alpha
from weightspace.zoo import ArchConfig, DatasetConfig, build_model, load_dataset
from weightspace.zoo.datasets import Splits
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.reference import evaluate, member_optimizer


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


class PlainVariational(nn.Module):
    """One conv or linear layer under sparse variational dropout, written the plain way."""

    def __init__(self, layer: nn.Module, init: float, threshold: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().clone())
        self.bias = nn.Parameter(layer.bias.detach().clone())
        self.log_sigma2 = nn.Parameter(torch.full_like(self.weight, init))
        self.conv = isinstance(layer, nn.Conv2d)
        self.bound, self.threshold = CLAMP["conv" if self.conv else "linear"], threshold
        if self.conv:
            self.args = (layer.stride, layer.padding, layer.dilation, layer.groups)

    def op(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(x, w, b, *self.args) if self.conv else F.linear(x, w, b)

    def log_alpha(self) -> torch.Tensor:
        return log_alpha(self.weight, self.log_sigma2, self.bound)

    def kl(self) -> torch.Tensor:
        return kl_divergence(self.log_alpha()).sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            kept = torch.where(self.log_alpha() < self.threshold, self.weight, 0.0)
            return self.op(x, kept, self.bias)
        mean = self.op(x, self.weight, self.bias)
        var = self.op(x * x, torch.exp(self.log_alpha()) * self.weight**2, None)
        return mean + torch.sqrt(var + 1e-8) * torch.randn_like(mean)


def _plain_vd_model(arch: ArchConfig, state: dict, config: SparsifyConfig) -> nn.Module:
    model = build_model(arch)
    model.load_state_dict(state)
    for path, module in list(model.named_modules()):
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            parent, _, name = path.rpartition(".")
            layer = PlainVariational(module, config.log_sigma2_init, config.threshold)
            setattr(model.get_submodule(parent) if parent else model, name, layer)
    return model


def _batches(splits: Splits, batch_size: int, seed: int):  # noqa: ANN202
    order = torch.randperm(len(splits.train_x), generator=torch.Generator().manual_seed(seed))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield splits.train_x[idx], splits.train_y[idx]


def plain_vd(spec: ModelSpec, state: dict, splits: Splits, batch_size: int, config) -> nn.Module:  # noqa: ANN001
    """Sparse VD on one model: plain module, randn_like noise, summed KL, Adam."""
    model = _plain_vd_model(spec.arch, state, config)
    layers = [m for m in model.modules() if isinstance(m, PlainVariational)]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.vd_lr)
    model.train()
    for epoch in range(1, config.vd_epochs + 1):
        factor = config.kl_factor(epoch, len(splits.train_x))
        for x, y in _batches(splits, batch_size, spec.seed + epoch):
            loss = F.cross_entropy(model(x), y) + factor * sum(m.kl() for m in layers)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def plain_mp(
    spec: ModelSpec, state: dict, level: float, splits: Splits, batch_size: int, config
) -> nn.Module:  # noqa: ANN001, E501
    """Global magnitude pruning of one model with torch's pruning utility, then fine-tuning
    with its own optimizer (the mask stays applied through the reparametrization)."""
    model = build_model(spec.arch)
    model.load_state_dict(state)
    targets = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=level)
    optimizer = member_optimizer(spec, model.parameters())
    model.train()
    for epoch in range(1, config.finetune_epochs + 1):
        for x, y in _batches(splits, batch_size, spec.seed + epoch):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for module, name in targets:
        prune.remove(module, name)
    return model


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
    for spec, state in zip(specs[:plain_models], states, strict=False):
        for twin in (
            plain_vd(spec, state, splits, batch_size, vd),
            plain_mp(spec, state, 0.8, splits, batch_size, mp),
        ):  # evaluated before and after, as the population does
            net = build_model(arch)
            net.load_state_dict(state)
            evaluate(net, splits)
            evaluate(twin, splits)
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
    parser.add_argument("--models", type=int, help="population size (default 128; quick: 8)")
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
        models = args.models or (8 if args.quick else 128)
        throughput(models, args.batch_size, args.plain_models or models)


if __name__ == "__main__":
    main()
