"""How sure a number is: one module for every interval, paired difference and verdict the
package prints.

The bootstrap resamples the *independent units* of an experiment, never the rows of one unit:

- on a split grouped by seed and init, the unit is the group (siblings share their start and
  their data order, so they are not independent draws);
- on a plain split of a zoo whose models have their own seeds, the unit is the model (each drawn
  model brings all its checkpoints);
- across seeds of a training run or sampled configurations of a protocol, the unit is the seed or
  the configuration.

A table with fewer than `MIN_UNITS` independent units prints the count and no interval: a
percentile interval over four groups says more about the bootstrap than about the method.

Example::

    units = group_keys_of_test_rows             # (rows,)
    draws = unit_resamples(units, 1000, seed=0)  # each draw: row indices, whole units at a time
    boot = bootstrap_scores("r2", y, pred, draws)
    low, high = interval(boot)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
MIN_UNITS = 8  # fewer independent units than this: the count, no interval
UNITS = ("group", "model", "seed", "configuration", "network", "grid")


# ---- scores ---------------------------------------------------------------------------------
def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot; NaN where ``y`` is constant or empty."""
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    if len(y) == 0:
        return float("nan")
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - pred) ** 2).sum()) / total if total > 0 else float("nan")


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of entries where ``pred`` equals ``y``; NaN when empty."""
    y, pred = np.asarray(y), np.asarray(pred)
    return float(np.mean(y == pred)) if len(y) else float("nan")


def tau(y: np.ndarray, pred: np.ndarray) -> float:
    """Kendall's rank correlation (tau-b): does the prediction order the entries correctly?"""
    from scipy.stats import kendalltau

    if len(np.unique(y)) < 2 or len(np.unique(pred)) < 2:
        return float("nan")
    return float(kendalltau(y, pred).statistic)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "r2": r2,
    "accuracy": accuracy,
    "tau": tau,
}


# ---- resampling -----------------------------------------------------------------------------
def count_units(units: Sequence) -> int:
    """How many distinct independent units ``units`` (one key per row) holds."""
    return len(np.unique(np.asarray(units).astype(str))) if len(units) else 0


def unit_resamples(units: Sequence, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` bootstrap resamples of the rows, drawn by unit.

    ``units`` holds one key per row (a group key, a model id, a seed). Each resample draws as
    many units as there are, with replacement, and concatenates all rows of every drawn unit.
    """
    keys = np.asarray(units).astype(str)
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_units = int(inverse.max()) + 1 if len(inverse) else 0
    rows_of = [np.flatnonzero(inverse == i) for i in range(n_units)]
    rng = np.random.default_rng(seed)
    return [
        np.concatenate([rows_of[i] for i in rng.integers(n_units, size=n_units)])
        for _ in range(n if n_units else 0)
    ]


def bootstrap_scores(
    metric: str, y: np.ndarray, pred: np.ndarray, resamples: list[np.ndarray]
) -> np.ndarray:
    """The metric (a name of `METRICS`) on each resample, (n,)."""
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
    """(mean, low, high) of the bootstrap differences ``a - b`` of two methods scored on the
    same resamples; the difference exceeds the noise when the interval excludes 0."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    low, high = interval(diff, level)
    finite = diff[np.isfinite(diff)]
    return (float(finite.mean()) if len(finite) else float("nan")), low, high


# ---- estimates and verdicts -----------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A value, its interval over ``units`` independent ``unit``s (NaN when there are fewer
    than `MIN_UNITS`), printed as ``0.838 [0.74, 0.89]`` or ``0.838 (4 groups: no interval)``."""

    value: float
    low: float
    high: float
    units: int
    unit: str

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def text(self, digits: int = 3) -> str:
        value = f"{self.value:.{digits}f}"
        if self.has_interval:
            return f"{value} [{self.low:.{digits - 1}f}, {self.high:.{digits - 1}f}]"
        return f"{value} ({self.units} {self.unit}{'s' if self.units != 1 else ''}: no interval)"

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "low": self.low if self.has_interval else None,
            "high": self.high if self.has_interval else None,
            "test_units": self.units,
            "unit": self.unit,
        }


def enough(units: int) -> bool:
    """Whether ``units`` independent units are enough for an interval."""
    return units >= MIN_UNITS


def mean_estimate(
    per_unit: Sequence[float], unit: str, n: int = 1000, seed: int = 0, level: float = LEVEL
) -> Estimate:
    """The mean of one value per independent unit, with a bootstrap interval of the mean (over
    units) when there are at least `MIN_UNITS` of them. NaN values are dropped first."""
    values = np.asarray(per_unit, dtype=float)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if len(values) else float("nan")
    if not enough(len(values)):
        return Estimate(mean, float("nan"), float("nan"), len(values), unit)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(len(values), size=(n, len(values)))].mean(axis=1)
    low, high = interval(means, level)
    return Estimate(mean, low, high, len(values), unit)


def paired_estimate(
    a: Sequence[float], b: Sequence[float], unit: str, n: int = 1000, seed: int = 0
) -> Estimate:
    """The mean difference ``a - b`` over units measured both ways (one pair per unit), with
    the interval of `mean_estimate` over the pairs."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need one pair per unit, got {a.shape} and {b.shape}")
    return mean_estimate(a - b, unit, n=n, seed=seed)


def two_sample_estimate(
    a: Sequence[float], b: Sequence[float], unit: str, n: int = 1000, seed: int = 0
) -> Estimate:
    """mean(a) - mean(b) for two independent sets of units (e.g. sampled and randomly
    initialized networks), each resampled on its own; an interval only when both sets hold at
    least `MIN_UNITS` units. ``units`` counts the smaller set."""
    a, b = (np.asarray(v, dtype=float) for v in (a, b))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
    units = min(len(a), len(b))
    if not enough(units):
        return Estimate(diff, float("nan"), float("nan"), units, unit)
    rng = np.random.default_rng(seed)
    draws = a[rng.integers(len(a), size=(n, len(a)))].mean(1) - b[
        rng.integers(len(b), size=(n, len(b)))
    ].mean(1)
    low, high = interval(draws)
    return Estimate(diff, low, high, units, unit)


HIGHER, LOWER, NOISE, TOO_FEW = "higher", "lower", "within the noise", "too few units"


def verdict(low: float, high: float) -> str:
    """What an interval of a difference ``a - b`` says: `HIGHER` (it excludes 0 from above),
    `LOWER`, `NOISE` (it holds 0) or `TOO_FEW` (no interval)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return TOO_FEW
    if low > 0:
        return HIGHER
    if high < 0:
        return LOWER
    return NOISE


__all__ = [
    "HIGHER",
    "LEVEL",
    "LOWER",
    "METRICS",
    "MIN_UNITS",
    "NOISE",
    "TOO_FEW",
    "UNITS",
    "Estimate",
    "accuracy",
    "bootstrap_scores",
    "count_units",
    "enough",
    "interval",
    "mean_estimate",
    "paired_difference",
    "paired_estimate",
    "r2",
    "tau",
    "two_sample_estimate",
    "unit_resamples",
    "verdict",
]
