"""How sure a probe score is: bootstrap over test *models*, and paired differences of methods.

A test split of a small zoo holds a few dozen models; their checkpoints are not independent, so
the bootstrap resamples models (each drawn model brings all its test checkpoints), and every
method is scored on the same resamples, which makes differences between methods paired.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import kendalltau

LEVEL = 0.95


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination; NaN where ``y`` is constant."""
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / total if total > 0 else float("nan")


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(y == pred))


def tau(y: np.ndarray, pred: np.ndarray) -> float:
    """Kendall's rank correlation (tau-b): does the probe order models correctly?"""
    if len(np.unique(y)) < 2 or len(np.unique(pred)) < 2:
        return float("nan")
    return float(kendalltau(y, pred).statistic)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "r2": r2,
    "accuracy": accuracy,
    "tau": tau,
}


def model_resamples(model_ids: np.ndarray, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` bootstrap resamples of the rows of ``model_ids`` (one entry per test row), drawn
    by model: each is the concatenated rows of len(models) models drawn with replacement."""
    models, inverse = np.unique(model_ids, return_inverse=True)
    rows_of = [np.flatnonzero(inverse.reshape(-1) == i) for i in range(len(models))]
    rng = np.random.default_rng(seed)
    return [
        np.concatenate([rows_of[i] for i in rng.integers(len(models), size=len(models))])
        for _ in range(n)
    ]


def bootstrap_scores(
    metric: str, y: np.ndarray, pred: np.ndarray, resamples: list[np.ndarray]
) -> np.ndarray:
    """The metric on each resample, (n,)."""
    fn = METRICS[metric]
    return np.array([fn(y[rows], pred[rows]) for rows in resamples])


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap values (NaNs ignored)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def paired_difference(
    a: np.ndarray, b: np.ndarray, level: float = LEVEL
) -> tuple[float, float, float]:
    """(mean, low, high) of the bootstrap differences ``a - b`` of two methods' scores on the
    same resamples; the difference exceeds the noise when the interval excludes 0."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    low, high = interval(diff, level)
    finite = diff[np.isfinite(diff)]
    return (float(finite.mean()) if len(finite) else float("nan")), low, high
