"""Run one baseline by name: fit on training grids, report metrics on every test set."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from weightspace.errors import check_choice
from weightspace.powergrid.baselines import (
    MeasuresMLP,
    add_measures,
    build_model,
    fit_measures_regression,
)
from weightspace.powergrid.config import GridTrainConfig
from weightspace.powergrid.train import evaluate_node_regressor, fit_node_regressor, node_metrics

BASELINES = ("tag", "arma", "gcn", "sage", "mlp", "measures", "linear", "dbgnn")


def run_baseline(
    name: str,
    train: list,
    valid: list,
    tests: dict[str, list],
    config: GridTrainConfig,
    log: Callable[[dict], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Fit baseline ``name`` and return {test set name: {"r2", "within_0.1", "mse"}}, plus
    "valid" and "fit" (seconds, best epoch).

    ``measures`` is a gradient-boosted regression and ``linear`` a linear regression on the
    network measures; ``mlp`` an MLP on them; the others are GNNs on (P, lines, K).
    """
    check_choice("model", name, BASELINES)
    start = time.perf_counter()
    if name in ("measures", "linear", "mlp"):
        for data in (train, valid, *tests.values()):
            add_measures(data)
    if name in ("measures", "linear"):
        kind = "boosting" if name == "measures" else "linear"
        model = fit_measures_regression(train, kind, config.seed)

        def score(data: list) -> dict[str, float]:
            x = torch.cat([d.measures for d in data]).numpy()
            y = torch.cat([d.y for d in data]).double().numpy()
            return node_metrics(np.clip(model.predict(x), 0, 1), y)

        results = {"valid": score(valid), **{k: score(v) for k, v in tests.items()}}
        results["fit"] = {"seconds": time.perf_counter() - start, "best_epoch": 0}
        return results
    net = build_model(name, config)
    if isinstance(net, MeasuresMLP):
        net.fit_scaler(train)
    fit = fit_node_regressor(net, train, valid, config, log)
    results = {
        "valid": fit.best_valid,
        **{k: evaluate_node_regressor(net, v, device=config.device) for k, v in tests.items()},
    }
    results["fit"] = {"seconds": time.perf_counter() - start, "best_epoch": fit.best_epoch}
    return results
