"""Run baselines by name: fit on training grids, report metrics on every test set, over seeds.

A ranking of baselines from one training seed says little: `compare_baselines` fits each one on
several seeds and reports the mean over seeds with a bootstrap interval over them (the seed is
the independent unit; `weightspace.stats` prints no interval below its `MIN_UNITS` seeds).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch

from weightspace.errors import ConfigError, check_choice
from weightspace.powergrid.baselines import (
    MeasuresMLP,
    add_measures,
    build_baseline,
    fit_measures_regression,
)
from weightspace.powergrid.config import BASELINES, GridTrainConfig
from weightspace.powergrid.train import evaluate_node_regressor, fit_node_regressor, node_metrics
from weightspace.stats import Estimate, mean_estimate

METRICS = ("r2", "within_0.1", "mse")


def run_baseline(
    name: str,
    train: list,
    valid: list,
    tests: dict[str, list],
    config: GridTrainConfig,
    log: Callable[[dict], None] | None = None,
    layers: int | None = None,
    steps: int | None = None,
) -> dict[str, dict[str, float]]:
    """Fit baseline ``name`` once (seed ``config.seed``) and return {test set name: {"r2",
    "within_0.1", "mse"}}, plus "valid" and "fit" (seconds, best epoch).

    ``measures`` is a gradient-boosted regression and ``linear`` a linear regression on the
    network measures; ``mlp`` an MLP on them; the others are GNNs on (P, lines, K).
    ``layers`` / ``steps``: the DBGNN's depth (see `build_baseline`).
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
    net = build_baseline(name, config, layers=layers, steps=steps)
    if isinstance(net, MeasuresMLP):
        net.fit_scaler(train)
    fit = fit_node_regressor(net, train, valid, config, log)
    results = {
        "valid": fit.best_valid,
        **{k: evaluate_node_regressor(net, v, device=config.device) for k, v in tests.items()},
    }
    results["fit"] = {"seconds": time.perf_counter() - start, "best_epoch": fit.best_epoch}
    return results


def compare_baselines(
    names: list[str],
    train: list,
    valid: list,
    tests: dict[str, list],
    config: GridTrainConfig,
    seeds: int = 3,
    log: Callable[[dict], None] | None = None,
    layers: int | None = None,
    steps: int | None = None,
) -> dict[str, dict]:
    """Every baseline of ``names`` fitted ``seeds`` times, with training seeds config.seed,
    config.seed + 1, ... (initialization and batch order; the split stays as given).

    Per model: the mean over seeds of every metric under each test set name and "valid";
    "per_seed" (one `run_baseline` result per seed, with its "seed"); "intervals" ({set:
    {metric: `Estimate.to_dict()`}}, the mean with a bootstrap interval over seeds); "test_units"
    (the number of seeds) and "unit" = "seed".

    Example:
        >>> results = compare_baselines(["arma", "dbgnn"], train, valid, {"test": test}, config)
        >>> print(comparison_table(results, ["test"]))
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError("seeds", "an integer >= 1 (training seeds per baseline)", seeds)
    out: dict[str, dict] = {}
    for name in names:
        per_seed = []
        for seed in range(config.seed, config.seed + seeds):
            seeded = replace(config, seed=seed)
            run = run_baseline(name, train, valid, tests, seeded, log, layers, steps)
            per_seed.append({"seed": seed, **run})
        entry: dict = {"intervals": {}}
        for split in ("valid", *tests):
            estimates = {m: mean_estimate([r[split][m] for r in per_seed], "seed") for m in METRICS}
            entry[split] = {m: e.value for m, e in estimates.items()}
            entry["intervals"][split] = {m: e.to_dict() for m, e in estimates.items()}
        entry["fit"] = {
            "seconds": sum(r["fit"]["seconds"] for r in per_seed),
            "best_epoch": per_seed[0]["fit"]["best_epoch"],  # the first seed's
            "best_epochs": [r["fit"]["best_epoch"] for r in per_seed],
        }
        out[name] = {**entry, "per_seed": per_seed, "test_units": seeds, "unit": "seed"}
    return out


def _estimate(d: dict) -> Estimate:
    nan = lambda v: math.nan if v is None else v  # noqa: E731
    return Estimate(d["value"], nan(d["low"]), nan(d["high"]), d["test_units"], d["unit"])


def comparison_table(results: dict[str, dict], tests: list[str]) -> str:
    """Per model and test set: the mean R^2 and share within 0.1 over seeds, each with its
    interval over seeds (or the seed count, where there are too few for one)."""
    head = " | ".join(f"{t} R2 | {t} within 0.1" for t in tests)
    lines = [f"| model | {head} | seeds |", "|---" * (2 * len(tests) + 2) + "|"]
    for name, r in results.items():
        cells = " | ".join(
            f"{_estimate(r['intervals'][t]['r2']).text()} | "
            f"{_estimate(r['intervals'][t]['within_0.1']).text()}"
            for t in tests
        )
        lines.append(f"| {name} | {cells} | {r['test_units']} |")
    return "\n".join(lines)
