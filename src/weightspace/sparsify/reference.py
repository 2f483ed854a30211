"""The plain way: sparsify one model at a time with an `nn.Module` forward and `torch.optim`.

The parity reference of the population sparsifier (tests) and the per-model baseline of
``benchmarks/sparsify.py``. Same data order, same variational noise (keyed by the model's seed
and the step) and the same optimizer arithmetic as the population, so results agree for
dropout-free models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weightspace.functional import ParamLayout
from weightspace.sparsify.config import SparsifyConfig
from weightspace.sparsify.masks import Layout, magnitude_mask
from weightspace.sparsify.variational import (
    KLPenalty,
    sparse_weights,
    to_variational,
    variational_layers,
)
from weightspace.zoo.architectures import build_model
from weightspace.zoo.datasets import Splits
from weightspace.zoo.layers import Dropout
from weightspace.zoo.members import ModelSpec, epoch_order, step_keys
from weightspace.zoo.reference import member_optimizer


def _seeded(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The modules that draw noise (dropout, variational layers), switched to the population's
    counter-based generator; set their ``key`` per step with `_step`."""
    noisy = [m for m in model.modules() if hasattr(m, "key") and hasattr(m, "salt")]
    for module in noisy:
        if isinstance(module, Dropout):
            module.seeded = True
    return noisy


def _step(noisy: list[torch.nn.Module], seed: int, step: int) -> None:
    key = step_keys(torch.tensor([seed]), step)[0]
    for module in noisy:
        module.key = key


def _batches(spec: ModelSpec, splits: Splits, epoch: int, batch_size: int):  # noqa: ANN202
    order = epoch_order(spec.seed, epoch, len(splits.train_x))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield splits.train_x[idx], splits.train_y[idx]


def magnitude_alone(
    spec: ModelSpec,
    start: dict[str, torch.Tensor],
    level: float,
    splits: Splits,
    batch_size: int,
    config: SparsifyConfig,
    first_epoch: int = 0,
) -> dict[str, torch.Tensor]:
    """One model pruned one-shot to ``level`` and fine-tuned with its mask fixed."""
    model = build_model(spec.arch)
    model.load_state_dict(start)
    params = dict(model.named_parameters())
    flat_layout = ParamLayout.of(model)
    layout = Layout.of(model, list(flat_layout.names), flat_layout.sizes)
    flat = flat_layout.flatten(params).detach().unsqueeze(0)  # (1, P)
    mask = magnitude_mask(flat, layout, torch.tensor([level]), config.scope)[0]
    masks = flat_layout.unflatten(mask)
    with torch.no_grad():
        for k, p in params.items():
            p.mul_(masks[k])
    optimizer = member_optimizer(spec, model.parameters())
    noisy, step = _seeded(model), 0
    model.train()
    for epoch in range(1, config.finetune_epochs + 1):
        for x, y in _batches(spec, splits, first_epoch + epoch, batch_size):
            step += 1
            _step(noisy, spec.seed, step)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            for k, p in params.items():
                p.grad.mul_(masks[k])
            optimizer.step()
            with torch.no_grad():
                for k, p in params.items():
                    p.mul_(masks[k])
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def variational_alone(
    spec: ModelSpec,
    start: dict[str, torch.Tensor],
    splits: Splits,
    batch_size: int,
    config: SparsifyConfig,
    first_epoch: int = 0,
) -> dict[str, torch.Tensor]:
    """One model through ``config.vd_epochs`` of sparse variational dropout (Adam, the KL
    ramp); returns the evaluated network's weights (log alpha >= threshold zeroed)."""
    model = to_variational(build_model(spec.arch), config.log_sigma2_init, config.threshold)
    model.load_state_dict(start, strict=False)  # log sigma^2 keeps its initial value
    layers = variational_layers(model)
    layout = ParamLayout.of(model)
    penalty = KLPenalty(layers, layout.unflatten)  # (1, P) -> {k: (1, *shape)}
    optimizer = torch.optim.Adam(model.parameters(), lr=config.vd_lr, betas=(0.9, 0.999), eps=1e-8)
    noisy, step = _seeded(model), 0
    model.train()
    for epoch in range(1, config.vd_epochs + 1):
        penalty.weight = config.kl_factor(epoch, len(splits.train_x))
        for x, y in _batches(spec, splits, first_epoch + epoch, batch_size):
            step += 1
            _step(noisy, spec.seed, step)
            flat = layout.flatten(dict(model.named_parameters())).unsqueeze(0)  # (1, P)
            loss = F.cross_entropy(model(x), y) + penalty(flat)[0]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        named = {k: v.unsqueeze(0) for k, v in model.state_dict().items()}
        return {k: v[0] for k, v in sparse_weights(named, layers, config.threshold).items()}
