"""Sparsify a population of trained models at once: magnitude pruning and variational dropout.

Both run inside the zoo's population trainer: all models (and, for magnitude pruning, all
sparsity levels of every model) are members of one population with per-member masks over the
flat (N, P) parameter tensor. Data order and dropout keys depend only on a model's seed and the
epoch, so a model sparsified in any population equals it sparsified alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import torch

from weightspace.sparsify.config import SparsifyConfig
from weightspace.sparsify.masks import Layout, cubic_schedule, magnitude_mask, total_sparsity
from weightspace.sparsify.variational import (
    KLPenalty,
    sparse_weights,
    to_variational,
    variational_layers,
)
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.datasets import Splits
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.population import METRICS, Population


@dataclass
class Twins:
    """What sparsifying M models produced: R twin checkpoints.

    ``weights[key]`` is (R, *shape) per state-dict key of the original network; ``member[r]``
    is the index (into the M models) of the original of twin ``r``; ``values[r]`` its columns
    (epoch, sparsity, metrics, ...); ``problem[r]`` is empty unless that twin diverged.
    """

    weights: dict[str, torch.Tensor]
    member: list[int]
    values: list[dict[str, float]]
    problem: list[str]
    levels: int = 1  # twins per original at one epoch (magnitude: one per sparsity level)


def start_population(
    specs: list[ModelSpec],
    start: dict[str, torch.Tensor],
    splits: Splits,
    batch_size: int,
    device: str,
    build=build_model,  # noqa: ANN001
) -> Population:
    """A population whose parameters named in ``start`` ({key: (N, *shape)}) are set to it."""
    pop = Population(specs, splits, batch_size, device, build=build)
    named = pop.unflatten(pop.flat)
    named.update({k: start[k].to(pop.flat) for k in pop.names if k in start})
    pop.flat = pop.layout.flatten(named, lead=1).contiguous()  # (N, P)
    for key in pop.persistent:
        pop.buffers[key] = start[key].to(pop.device)
    return pop


def _prune(pop: Population, layout: Layout, share: torch.Tensor, scope: str) -> None:
    """Prune to ``share`` (N,) on top of the current mask; pruned weights lose their optimizer
    state, so nothing remembers them."""
    mask = magnitude_mask(pop.flat, layout, share, scope, keep=pop.mask)
    pop.mask = mask
    pop.flat.masked_fill_(~mask, 0.0)
    for state in (pop.optimizer.exp_avg, pop.optimizer.exp_avg_sq):
        if state is not None:
            state.masked_fill_(~mask, 0.0)


def _problems(pop: Population) -> list[str]:
    finite = pop.active & torch.isfinite(pop.flat).all(1)
    return ["" if ok else "diverged while sparsifying" for ok in finite.tolist()]


def _row(metrics: torch.Tensor) -> dict[str, float]:
    values = dict(zip(METRICS, metrics.tolist(), strict=True))
    values["ggap"] = values["train_acc"] - values["test_acc"]
    return values


def magnitude_twins(
    specs: list[ModelSpec],
    start: dict[str, torch.Tensor],
    splits: Splits,
    batch_size: int,
    config: SparsifyConfig,
    first_epoch: int = 0,
) -> Twins:
    """Prune each of M models to every level of ``config.sparsity``, then fine-tune with the
    masks fixed (each model's own optimizer, learning rate and weight decay). One twin per
    (model, level), model-major. ``first_epoch`` is the originals' epoch: fine-tuning epoch t
    uses the data order of epoch ``first_epoch + t``.
    """
    levels = torch.tensor(config.sparsity, dtype=torch.float64)  # exact levels in the table
    n_levels, epochs = len(levels), config.finetune_epochs
    members = [spec for spec in specs for _ in range(n_levels)]
    repeated = {k: v.repeat_interleave(n_levels, 0) for k, v in start.items()}
    pop = start_population(members, repeated, splits, batch_size, config.device)
    layout = Layout.of(pop.template, pop.names, pop.sizes)
    target = levels.repeat(len(specs))  # (N,)
    if config.schedule == "oneshot":
        _prune(pop, layout, target, config.scope)
        pruned = pop.metrics()
    for t in range(1, epochs + 1):
        if config.schedule == "gradual":
            _prune(pop, layout, cubic_schedule(1.0, t, epochs) * target, config.scope)
            if t == epochs:
                pruned = pop.metrics()  # after the last pruning step, before its fine-tuning
        pop.train_epoch(first_epoch + t)
    final = pop.metrics().cpu()
    weights = {k: v.cpu() for k, v in pop.state_dicts().items()}
    sparsity = total_sparsity(weights, layout.names)
    values = [
        {
            "epoch": epochs,  # the twin's own epochs; the original's is a column of its own
            "level": i % n_levels,
            "target_sparsity": float(target[i]),
            "sparsity": float(sparsity[i]),
            "pruned_test_acc": float(pruned[i, 5]),
            **_row(final[i]),
        }
        for i in range(len(members))
    ]
    member = [i for i in range(len(specs)) for _ in range(n_levels)]
    return Twins(weights, member, values, _problems(pop), n_levels)


def variational_twins(
    specs: list[ModelSpec],
    start: dict[str, torch.Tensor],
    splits: Splits,
    batch_size: int,
    config: SparsifyConfig,
    first_epoch: int = 0,
) -> Twins:
    """Sparse variational dropout on M models: Adam ``vd_lr``, no weight decay, the KL weight
    ramped per epoch and scaled as ``config.kl_objective`` says (`SparsifyConfig.kl_factor`:
    KL / N_train for the ELBO); a twin checkpoint (the evaluated, sparse network) before
    training and after every epoch, so (vd_epochs + 1) twins per model, model-major."""
    vd_specs = [replace(s, optimizer="adam", lr=config.vd_lr, weight_decay=0.0) for s in specs]
    build = partial(_variational_model, init=config.log_sigma2_init, threshold=config.threshold)
    pop = start_population(vd_specs, start, splits, batch_size, config.device, build)
    layers = variational_layers(pop.template)
    pop.penalty = penalty = KLPenalty(layers, pop.unflatten)
    names = tuple(f"{prefix}.weight" for prefix, _ in layers)
    snapshots, metrics = [], []
    for epoch in range(config.vd_epochs + 1):
        if epoch > 0:
            penalty.weight = config.kl_factor(epoch, len(splits.train_x))
            pop.train_epoch(first_epoch + epoch)
        metrics.append(pop.metrics().cpu())  # eval mode: the sparse network
        with torch.no_grad():
            named = sparse_weights(pop.unflatten(pop.flat), layers, config.threshold)
        named.update({k: pop.buffers[k].clone() for k in pop.persistent})
        snapshots.append({k: v.cpu() for k, v in named.items()})
    keys = [k for k in start]
    # (N, E + 1, *shape) -> rows model-major: (N * (E + 1), *shape)
    weights = {k: torch.stack([s[k] for s in snapshots], 1).flatten(0, 1) for k in keys}
    sparsity = total_sparsity(weights, names)
    values, member, problems = [], [], []
    for i, problem in enumerate(_problems(pop)):
        for epoch in range(config.vd_epochs + 1):
            row = len(values)
            values.append(
                {
                    "epoch": epoch,
                    "target_sparsity": float("nan"),
                    "sparsity": float(sparsity[row]),
                    "pruned_test_acc": float("nan"),
                    **_row(metrics[epoch][i]),
                }
            )
            member.append(i)
            problems.append(problem)
    return Twins(weights, member, values, problems)


def _variational_model(arch: ArchConfig, init: float, threshold: float) -> torch.nn.Module:
    return to_variational(build_model(arch), init, threshold)
