"""Loss-landscape and validation metrics of every configuration of a zoo (Zhou et al. 2024).

A configuration is the set of models that differ only in their seed. Per configuration the
table holds the seed means of train/test loss and error, ln of the mean Hessian trace and top
eigenvalue, mode connectivity between its first two seeds and the CKA of its seeds' outputs, in
the column layout of the published MD-tree tables.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from weightspace.diagnose.cka import mixup_inputs, seed_cka
from weightspace.diagnose.config import MetricsConfig
from weightspace.diagnose.connectivity import mode_connectivity
from weightspace.diagnose.hessian import hessian_metrics
from weightspace.diagnose.stack import Stack
from weightspace.errors import ConfigError
from weightspace.zoo import Zoo, build_model, load_dataset
from weightspace.zoo.datasets import DatasetConfig, Splits

CONFIG_FACTORS = ("activation", "dropout", "init", "optimizer", "lr", "weight_decay")


def final_rows(zoo: Zoo) -> np.ndarray:
    """Row of each model's last checkpoint (models that diverged are left out)."""
    epoch, model, status = zoo.column("epoch"), zoo.column("model_id"), zoo.column("status")
    last = {}
    for row in np.argsort(epoch, kind="stable"):
        last[int(model[row])] = row
    return np.array([r for r in last.values() if status[r] == "ok"], dtype=np.int64)


def configurations(zoo: Zoo, rows: np.ndarray) -> list[list[int]]:
    """Group rows (by position in ``rows``) into configurations, seeds in ascending order."""
    columns = [c for c in CONFIG_FACTORS if c in zoo.table.column_names]
    keys = list(zip(*(zoo.column(c)[rows].tolist() for c in columns), strict=True))
    # an imported zoo may not record seeds: its models in id order
    seeds = zoo.column("seed" if "seed" in zoo.table.column_names else "model_id")[rows]
    groups: dict[tuple, list[int]] = {}
    for i in np.argsort(seeds, kind="stable"):
        groups.setdefault(keys[i] if columns else (), []).append(int(i))
    return list(groups.values())


def _fixed_batch(splits: Splits, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    pick = torch.randperm(len(splits.train_y), generator=torch.Generator().manual_seed(seed))[:n]
    return splits.train_x[pick], splits.train_y[pick]


def model_metrics(
    stack: Stack, splits: Splits, config: MetricsConfig, model_ids: list[int]
) -> dict[str, np.ndarray]:
    """Per-model losses, errors (%), Hessian trace and top eigenvalue: {name: (N,)}."""
    x, y = _fixed_batch(splits, config.hessian_samples, config.seed)
    chunks = [list(range(len(stack)))] if config.batched else [[i] for i in range(len(stack))]
    parts: dict[str, list[torch.Tensor]] = {}
    for chunk in chunks:
        sub = stack.select(chunk) if len(chunks) > 1 else stack
        values = dict(
            zip(
                ("train_loss", "train_error"),
                sub.loss_and_error(splits.train_x, splits.train_y),
                strict=True,
            )
        )
        values.update(
            zip(
                ("test_loss", "test_error"),
                sub.loss_and_error(splits.test_x, splits.test_y),
                strict=True,
            )
        )
        seeds = [config.seed * 1_000_003 + model_ids[i] for i in chunk]
        values["trace"], values["eigenvalue"] = hessian_metrics(
            sub, x, y, seeds, config.hessian_iters, config.hessian_tol
        )
        for k, v in values.items():
            parts.setdefault(k, []).append(v)
    return {k: torch.cat(v).numpy().astype(np.float64) for k, v in parts.items()}


def _log(value: float) -> float:
    # the published tables hold ln of the Hessian values; a non-positive mean has no logarithm
    return math.log(value) if value > 0 else float("nan")


_DEFAULT = MetricsConfig()  # frozen: one instance serves every call


def zoo_metrics(zoo: Zoo, config: MetricsConfig = _DEFAULT) -> list[dict]:
    """One row per configuration of ``zoo`` in the published MD-tree column layout."""
    # the training data: a created zoo's own, an imported zoo's attached task (or the error
    # that says how to attach one)
    dataset = zoo.config.dataset if zoo.config is not None else zoo.dataset
    rows = final_rows(zoo)
    if len(rows) == 0:
        raise ConfigError("zoo", "at least one model that did not diverge", str(zoo.root))
    splits = load_dataset(dataset)
    template = build_model(zoo.arch(int(rows[0])))
    stack = Stack.from_state_dicts(template, zoo.state_dicts(rows))
    ids = zoo.column("model_id")[rows].tolist()
    per_model = model_metrics(stack, splits, config, ids)
    groups = configurations(zoo, rows)
    mixed = mixup_inputs(
        _fixed_batch(splits, config.cka_samples, config.seed + 1)[0],
        config.seed,
        config.mixup_alpha,
    )
    cka = _cka(stack, groups, mixed, config.batched)
    out = []
    for group, cka_value in zip(groups, cka, strict=True):
        row = _describe(zoo, splits, template, dataset)
        mean = {k: float(np.mean(v[group])) for k, v in per_model.items()}
        row.update({k: mean[k] for k in ("train_loss", "test_loss", "train_error", "test_error")})
        row["train_acc"], row["test_acc"] = 100 - mean["train_error"], 100 - mean["test_error"]
        row["generalization_gap"] = row["train_acc"] - row["test_acc"]
        row["hessian_t"], row["hessian_e"] = _log(mean["trace"]), _log(mean["eigenvalue"])
        row["CKA"] = cka_value
        row["mode_connectivity"] = row["mode_connectivity_peak"] = float("nan")
        if len(group) >= 2:
            a, b = stack.flat[group[0]], stack.flat[group[1]]
            row["mode_connectivity"], row["mode_connectivity_peak"] = mode_connectivity(
                stack, a, b, splits.train_x, splits.train_y, config.curve_config, config.seed
            )
        row["n_seeds"] = len(group)
        row["mc_curve"] = config.curve
        for factor in CONFIG_FACTORS:
            if factor in zoo.table.column_names:
                row[factor] = zoo.column(factor)[rows[group[0]]]
        out.append(row)
    return out


def _cka(stack: Stack, groups: list[list[int]], x: torch.Tensor, batched: bool) -> list[float]:
    if batched:
        return seed_cka(stack, groups, x)
    return [seed_cka(stack.select(g), [list(range(len(g)))], x)[0] for g in groups]


def _describe(zoo: Zoo, splits: Splits, template: torch.nn.Module, dataset: DatasetConfig) -> dict:
    """The hyperparameter columns: data amount, parameter count, width, data tenths, batch
    (NaN for an imported zoo, which does not record its batch size)."""
    cfg = zoo.config
    data_amount = len(splits.train_y)
    params = sum(p.numel() for p in template.parameters())
    bs = cfg.batch_size if cfg is not None else float("nan")
    hidden = cfg.hidden if cfg is not None else zoo.arch(0).hidden
    return {
        "zoo": zoo.name,
        "data_amount": data_amount,
        "para_amount": params,
        "log_data_amount": math.log(data_amount),
        "log_para_amount": math.log(params),
        "log_bs": math.log(bs),
        "width": hidden[0] if hidden else 0,
        "data": int(round(dataset.train_fraction * 10)),
        "bs": bs,
        "label_noise": dataset.label_noise,
    }
