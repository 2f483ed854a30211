"""Train a population of models at once on one flat (N, P) parameter tensor.

The forward pass of the sequential zoo networks runs as batched kernels over the population
(`weightspace.zoo.batched`: grouped convolutions, batched matmuls); any other network (batch
norm, variational layers) runs under torch.func (functional_call and vmap). All models of a
population share one network structure and one optimizer type; each has its own
seed, initialization, data order, learning rate, weight decay and dropout rate. Parameters live in
one flat (N, P) tensor so that the optimizer update is a handful of fused tensor operations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import stack_module_state

from weightspace.errors import check_choice
from weightspace.functional import FlatModels, ParamLayout
from weightspace.zoo import batched
from weightspace.zoo.architectures import ArchConfig, build_model
from weightspace.zoo.datasets import Splits
from weightspace.zoo.layers import Dropout
from weightspace.zoo.members import ModelSpec, epoch_order, step_keys
from weightspace.zoo.optim import PopulationOptimizer

TRAIN_METRICS = ("running", "full")
METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


@dataclass
class PopulationResult:
    """What training a population produced.

    ``weights[key]`` is (N, E, *shape) for each state-dict key, E = number of checkpointed epochs;
    ``metrics`` is (N, epochs + 1, 6) in the order of `METRICS` (NaN after divergence);
    ``diverged_epoch[i]`` is the first epoch at which model i was non-finite, or -1.
    """

    specs: list[ModelSpec]
    checkpoint_epochs: list[int]
    weights: dict[str, torch.Tensor]
    metrics: torch.Tensor
    diverged_epoch: list[int]


class Population(FlatModels):
    """A population of N models of one group, trained together (a `FlatModels` whose
    parameters an optimizer moves).

    ``build`` makes one network from its `ArchConfig` (the registry's `build_model`; a
    sparsifier passes one that swaps in variational layers). ``eval_batch`` is the number of
    images evaluated at once (default: as many as keep one layer's activations of the whole
    population within 4 MiB, `weightspace.zoo.batched.eval_chunk`; 64 on the vmap path).
    ``program`` is the batched forward (`weightspace.zoo.batched.plan`), or None where the
    network runs under vmap.

    Example:
        >>> pop = Population(specs, splits, batch_size=32)
        >>> result = pop.train(epochs=5)
    """

    def __init__(
        self,
        specs: list[ModelSpec],
        splits: Splits,
        batch_size: int,
        device: torch.device | str = "cpu",
        eval_batch: int | None = None,
        build: Callable[[ArchConfig], nn.Module] = build_model,
    ) -> None:
        groups = {spec.group for spec in specs}
        assert len(groups) == 1, f"one population holds one group, got {groups}"
        self.specs = specs
        self.device = torch.device(device)
        self.splits = splits.to(self.device)
        self.batch_size = batch_size
        models = []
        for spec in specs:
            torch.manual_seed(spec.seed)
            models.append(build(spec.arch))
        # every architecture carries its Dropout modules (rate 0 is exact identity), so members
        # that differ in dropout share one structure; each member's rate is a stacked buffer
        self.template = build(replace(specs[0].arch, init="default")).to("meta")
        rates_in_use = any(spec.arch.dropout > 0 for spec in specs)
        for module in self.template.modules():
            if isinstance(module, Dropout):
                module.seeded = True
                module.enabled = rates_in_use  # all rates 0: skip drawing masks that keep all
        params, buffers = stack_module_state(models)
        flat = ParamLayout.of(models[0]).flatten(params, lead=1)  # (N, P)
        buffers = {k: v.to(self.device) for k, v in buffers.items()}
        super().__init__(self.template, flat.to(self.device), buffers)
        self.persistent = [k for k in models[0].state_dict() if k not in params]
        self.key_names = [k for k in self.buffers if k.endswith(".key")]
        self.seeds = torch.tensor([s.seed for s in specs], dtype=torch.int64, device=self.device)
        self.active = torch.ones(len(specs), dtype=torch.bool, device=self.device)
        self.optimizer = PopulationOptimizer(
            specs[0].optimizer,
            self.flat,
            torch.tensor([s.lr for s in specs]),
            torch.tensor([s.weight_decay for s in specs]),
        )
        self.steps = 0
        # hooks of derived training (sparsification): an extra loss term per model, and
        # weights held at exactly zero (mask False) through every step
        self.penalty: Callable[[torch.Tensor], torch.Tensor] | None = None  # (N, P) -> (N,)
        self.mask: torch.Tensor | None = None  # (N, P) bool
        self.program = batched.plan(self.template)
        if eval_batch is None and self.program is not None:
            widest = batched.widest(self.template, self.splits.input_shape)
            eval_batch = batched.eval_chunk(widest, len(specs))
        self.eval_batch = eval_batch or 64

    def logits(
        self,
        x: torch.Tensor,
        flat: torch.Tensor | None = None,
        shared: bool = True,
        chunk: int | None = None,
    ) -> torch.Tensor:
        """Logits (N, B, K) of every model: on one batch x (B, ...) for all models
        (``shared``) or on its own batch x (N, B, ...); through the batched program where the
        network has one, else under vmap."""
        if self.program is None:
            return super().logits(x, flat, shared, chunk)
        flat = self.flat if flat is None else flat
        a = batched.Act(x, "shared") if shared else batched.per_model_input(x)
        n, training = len(self.specs), self.template.training
        return batched.run(self.program, self.unflatten(flat), self.buffers, n, a, training)

    def state_dicts(self, persistent: list[str] | None = None) -> dict[str, torch.Tensor]:
        """The current weights as stacked state-dict tensors (N, *shape)."""
        return super().state_dicts(self.persistent if persistent is None else persistent)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on per-model batches x (N, B, C, H, W), y (N, B).

        Returns the per-model mean losses (N,) and correct counts (N,) of the batch."""
        self.template.train()
        self.steps += 1
        keys = step_keys(self.seeds, self.steps)
        for name in self.key_names:
            self.buffers[name] = keys
        flat = self.flat.detach().requires_grad_(True)
        logits = self.logits(x, flat, shared=False)  # (N, B, K)
        n, b, k = logits.shape
        losses = F.cross_entropy(logits.reshape(n * b, k), y.reshape(-1), reduction="none")
        losses = losses.view(n, b).mean(1)  # (N,)
        objective = losses.sum() if self.penalty is None else (losses + self.penalty(flat)).sum()
        (grad,) = torch.autograd.grad(objective, flat)
        self.active &= torch.isfinite(losses)
        if self.mask is not None:
            grad = grad * self.mask
        self.optimizer.step(self.flat, grad, self.active)
        if self.mask is not None:  # Adam's running averages would otherwise move a held weight
            self.flat.masked_fill_(~self.mask, 0.0)
        correct = (logits.detach().argmax(-1) == y).sum(1)  # (N,)
        return losses.detach(), correct

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, chunk: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss and accuracy (N,) of every model on a shared split, ``eval_batch``
        images at a time."""
        return super().evaluate(x, y, chunk or self.eval_batch)

    def metrics(self, train: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """(N, 6) train/val/test loss and accuracy, in the order of `METRICS`.

        ``train`` gives the training columns (running averages of the epoch); without it the
        training split is evaluated in full.
        """
        s = self.splits
        columns = list(train) if train is not None else list(self.evaluate(s.train_x, s.train_y))
        for x, y in ((s.val_x, s.val_y), (s.test_x, s.test_y)):
            columns.extend(self.evaluate(x, y))
        return torch.stack(columns, 1)

    def train_epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass over the training split, each model in its own seeded order.

        Returns the running mean loss and accuracy (N,) over the epoch's batches.
        """
        n = len(self.splits.train_x)
        order = torch.stack([epoch_order(s.seed, epoch, n) for s in self.specs]).to(self.device)
        loss_sum = torch.zeros(len(self.specs), device=self.device)
        correct = torch.zeros(len(self.specs), device=self.device)
        for start in range(0, n, self.batch_size):
            idx = order[:, start : start + self.batch_size]  # (N, B)
            losses, hits = self.train_step(self.splits.train_x[idx], self.splits.train_y[idx])
            loss_sum += losses * idx.shape[1]
            correct += hits
        return loss_sum / n, correct / n

    def train(
        self,
        epochs: int,
        checkpoint_epochs: list[int] | None = None,
        progress: Callable[[int], None] | None = None,
        train_metrics: str = "running",
        on_checkpoint: Callable[[int, dict[str, torch.Tensor], torch.Tensor], None] | None = None,
    ) -> PopulationResult:
        """Train for ``epochs``; record metrics every epoch (epoch 0 = initialization).

        ``train_metrics="running"`` records the training loss and accuracy as averages over
        the epoch's batches, as the published zoos do (free); ``"full"`` evaluates the whole
        training split after each epoch in eval mode. Epoch 0 is always evaluated in full.

        With ``on_checkpoint``, each checkpoint goes to it as it is made, as
        ``(epoch, {key: (K, *shape)} on the CPU, indices (K,) of the models still finite)``,
        and none is kept: memory stays one checkpoint of the population however long the
        history (``result.weights`` is then empty). Without it, every checkpoint of every
        model is returned in ``result.weights``.
        """
        check_choice("train_metrics", train_metrics, TRAIN_METRICS)
        wanted = sorted(set(range(epochs + 1) if checkpoint_epochs is None else checkpoint_epochs))
        n = len(self.specs)
        metrics = torch.full((n, epochs + 1, len(METRICS)), float("nan"))
        diverged = torch.full((n,), -1, dtype=torch.int64)
        snapshots: list[dict[str, torch.Tensor]] = []
        weights: dict[str, torch.Tensor] = {}
        for epoch in range(epochs + 1):
            running = self.train_epoch(epoch) if epoch > 0 else None
            values = self.metrics(running if train_metrics == "running" else None).cpu()
            finite = self.active.cpu() & torch.isfinite(self.flat).all(1).cpu()
            finite &= torch.isfinite(values).all(1)
            newly = (diverged < 0) & ~finite
            diverged[newly] = epoch
            self.active &= finite.to(self.device)
            metrics[finite, epoch] = values[finite]
            if epoch in wanted and on_checkpoint is not None:
                kept = torch.nonzero(diverged < 0).flatten()
                where = kept.to(self.device)
                state = {k: v[where].cpu() for k, v in self.unflatten(self.flat).items()}
                state.update({k: self.buffers[k][where].cpu() for k in self.persistent})
                on_checkpoint(epoch, state, kept)
            elif epoch in wanted:
                snapshots.append({k: v.cpu() for k, v in self.state_dicts().items()})
            if progress is not None:
                progress(n if epoch > 0 else 0)
        if snapshots:
            weights = {k: torch.stack([s[k] for s in snapshots], 1) for k in snapshots[0]}
        return PopulationResult(self.specs, wanted, weights, metrics, diverged.tolist())
