"""Train and evaluate node regressors of SNBS on lists of PyG ``Data`` grids.

Any ``torch.nn.Module`` whose ``forward(batch)`` returns one value per node ((N,) or (N, 1))
works, so new graph layers reuse this loop unchanged. Metrics over all test nodes: R^2 (the
coefficient of determination), the share of nodes predicted within 0.1, and the MSE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from weightspace.devices import resolve_device
from weightspace.errors import ConfigError
from weightspace.fitting import FitSettings, fit
from weightspace.powergrid.config import GridTrainConfig


def node_metrics(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """R^2, share within 0.1 and MSE of per-node predictions (both (N,))."""
    residual = ((prediction - target) ** 2).sum()
    total = ((target - target.mean()) ** 2).sum()
    return {
        "r2": float(1 - residual / total) if total > 0 else float("nan"),
        "within_0.1": float((np.abs(prediction - target) < 0.1).mean()),
        "mse": float(residual / len(target)),
    }


def _loader(data: list, batch_size: int, shuffle: bool, seed: int = 0):
    from torch_geometric.loader import DataLoader

    if not data:
        raise ConfigError("data", "at least one grid", 0, "Check the dataset and its split")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


@torch.no_grad()
def predict_nodes(model: nn.Module, data: list, batch_size: int = 256, device="cpu") -> np.ndarray:
    """Per-node predictions of ``model`` over ``data``, concatenated in order: (sum n,)."""
    model.eval()
    out = [model(b.to(device)).reshape(-1).cpu() for b in _loader(data, batch_size, False)]
    return torch.cat(out).double().numpy()


def evaluate_node_regressor(
    model: nn.Module, data: list, batch_size: int = 256, device: str = "cpu"
) -> dict[str, float]:
    """Metrics of ``model`` on ``data``: {"r2", "within_0.1", "mse"}."""
    target = torch.cat([d.y for d in data]).double().numpy()
    return node_metrics(predict_nodes(model, data, batch_size, device), target)


@dataclass
class FitResult:
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def fit_node_regressor(
    model: nn.Module,
    train: list,
    valid: list,
    config: GridTrainConfig,
    log: Callable[[dict], None] | None = None,
) -> FitResult:
    """Adam on the MSE of per-node predictions; the weights of the best valid MSE (= best R^2)
    are restored.

    Example:
        >>> model = build_baseline("arma", GridTrainConfig())
        >>> result = fit_node_regressor(model, splits["train"], splits["valid"], GridTrainConfig())
    """
    resolve_device(config.device, "device")
    torch.manual_seed(config.seed)
    loader = _loader(train, config.batch_size, True, config.seed)
    settings = FitSettings(
        epochs=config.epochs,
        lr=config.lr,
        weight_decay=config.weight_decay,
        validate_every=config.eval_every,
        monitor="mse",
        device=config.device,
    )

    def loss(fitted: nn.Module, batch) -> torch.Tensor:  # noqa: ANN001
        batch = batch.to(config.device)
        return nn.functional.mse_loss(fitted(batch).reshape(-1), batch.y)

    def validated(fitted: nn.Module, entry: dict[str, float]) -> None:
        if "mse" in entry:  # a validated epoch
            metrics = {k: v for k, v in entry.items() if k not in ("epoch", "train")}
            history.append({"epoch": entry["epoch"], "train_mse": entry["train"], **metrics})
            if log is not None:
                log(history[-1])

    history: list[dict[str, float]] = []
    fitted = fit(
        model,
        loss,
        lambda _epoch: loader,
        settings,
        validate=lambda m: evaluate_node_regressor(m, valid, device=config.device),
        size=lambda batch: batch.num_nodes,
        after_epoch=validated,
    )
    best_valid = next((h for h in history if h["epoch"] == fitted.best_epoch), {})
    return FitResult(fitted.best_epoch, best_valid, history, fitted.seconds)
