"""Probing across architectures: features of one fixed width for networks of several zoos, and
one linear probe fitted over all of them.

- `CrossArchWeightWatcher`: per-layer WeightWatcher metrics summarized to a fixed width.
- `probe_many`: fits each `ManyFeatures` on training parts (zoo, rows), the package's ridge
  probe (`RidgeProbe`, alpha by validation R², Schürholt et al., NeurIPS 2021) on a target, and
  returns test R², predictions and the independent unit of every test row, so that intervals
  and paired differences between feature sets can be bootstrapped over units
  (`weightspace.stats.unit_resamples`, `paired_estimate`).

`CrossArchStatistics` (s(W) for any depth, and the padded "dynamic StatNN") lives with the
other features in `weightspace.probe.features`; `WeightGraphFeatures.fit_many` in
`weightspace.graphs.weight_probe`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.linalg import LinAlgWarning

from weightspace.errors import ConfigError, NotFittedError
from weightspace.probe.features import WW_METRICS, ManyFeatures, Part, weightwatcher_layers
from weightspace.probe.probes import RidgeProbe
from weightspace.stats import r2, tau
from weightspace.tokens.splits import SIBLINGS, group_keys
from weightspace.zoo.reader import Zoo

SUMMARIES = ("first", "last", "mean", "min", "max")
Target = str | Callable[[Zoo, np.ndarray], np.ndarray]


class CrossArchWeightWatcher:
    """WeightWatcher metrics of networks of any depth, of one fixed width.

    For each metric of `WW_METRICS` (alpha, weighted alpha, log norm, log spectral norm, stable
    rank, entropy) over the layers WeightWatcher analyzes: the first layer's, the last layer's,
    and the mean, min and max over layers (NaN-aware), then the number of analyzed layers:
    ``5 * 6 + 1`` columns. NaNs (a metric WeightWatcher could not compute) are imputed with the
    column's mean over the training rows, as `WeightWatcherFeatures` does for one zoo.
    """

    name = "WeightWatcher across architectures"

    def fit_many(self, parts: Sequence[Part]) -> CrossArchWeightWatcher:
        """Analyze the training rows; NaNs will be filled with their column means."""
        raw = self._raw(parts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column
            fill = np.nanmean(raw, axis=0) if len(raw) else np.zeros(raw.shape[1])
        self.fill_ = np.where(np.isfinite(fill), fill, 0.0)
        self._fitted = (_identity(parts), raw)  # spares a second analysis of the same rows
        return self

    def transform_many(self, parts: Sequence[Part]) -> np.ndarray:
        """(rows of all parts in order, 31)."""
        if not hasattr(self, "fill_"):
            raise NotFittedError("CrossArchWeightWatcher is not fitted; call fit_many() first.")
        identity, raw = self._fitted
        if identity != _identity(parts):
            raw = self._raw(parts)
        return np.where(np.isfinite(raw), raw, self.fill_)

    def fit(self, zoo: Zoo, rows: np.ndarray) -> CrossArchWeightWatcher:
        return self.fit_many([(zoo, rows)])

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        return self.transform_many([(zoo, rows)])

    @staticmethod
    def _raw(parts: Sequence[Part]) -> np.ndarray:
        out = [np.zeros((0, len(SUMMARIES) * len(WW_METRICS) + 1))]
        for zoo, rows in parts:
            out += [summarize_layers(m)[None] for m in weightwatcher_layers(zoo, rows)]
        return np.concatenate(out)


def summarize_layers(metrics: np.ndarray) -> np.ndarray:
    """(layers, metrics) -> (metrics * 5 + 1,): per metric first, last, mean, min, max over
    layers (NaN where there is no finite value), then the number of layers."""
    n, k = metrics.shape
    if n == 0:
        return np.concatenate([np.full(k * len(SUMMARIES), np.nan), [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        rows = [
            metrics[0],
            metrics[-1],
            np.nanmean(metrics, 0),
            np.nanmin(metrics, 0),
            np.nanmax(metrics, 0),
        ]
    return np.concatenate([np.stack(rows, 1).reshape(-1), [float(n)]])


def _identity(parts: Sequence[Part]) -> list[tuple[str, bytes]]:
    return [(str(zoo.root), np.asarray(rows).tobytes()) for zoo, rows in parts]


def part_values(parts: Sequence[Part], target: Target) -> np.ndarray:
    """The target of every row of ``parts`` in order: a column of each zoo's table, or a
    function (zoo, rows) -> values."""
    out = []
    for zoo, rows in parts:
        rows = np.asarray(rows, dtype=int)
        if callable(target):
            out.append(np.asarray(target(zoo, rows), dtype=float))
        elif target not in zoo.table.column_names:
            raise ConfigError("target", f"a column of the zoo table of {zoo.name}", target)
        else:
            out.append(np.asarray(zoo.column(target), dtype=float)[rows])
    return np.concatenate(out) if out else np.zeros(0)


def part_units(
    parts: Sequence[Part], group_by: Sequence[str] = SIBLINGS
) -> tuple[np.ndarray, np.ndarray, str]:
    """(unit key, zoo label, unit name) of every row of ``parts``: the group of siblings (the
    row's values of ``group_by``) where groups hold several models in every zoo, else the model,
    as `weightspace.tokens.splits.unit_keys` does for one zoo. Each key starts with its zoo's
    label (the name; the path where names repeat), so units of two zoos never merge."""
    labels = _labels([zoo for zoo, _ in parts])
    per_zoo, grouped = [], True
    for zoo, rows in parts:
        rows = np.asarray(rows, dtype=int)
        models = np.asarray(zoo.column("model_id")).astype(str)[rows]
        factors = [f for f in group_by if f in zoo.table.column_names]
        groups = group_keys(zoo, factors)[rows] if factors else models
        grouped &= bool(factors) and len(np.unique(groups)) < len(np.unique(models))
        per_zoo.append((models, groups))
    keys, zoos = [], []
    for (zoo, _), (models, groups) in zip(parts, per_zoo, strict=True):
        label = labels[str(zoo.root)]
        keys += [f"{label}\x1e{k}" for k in (groups if grouped else models)]
        zoos += [label] * len(models)
    return np.array(keys, dtype=str), np.array(zoos, dtype=str), "group" if grouped else "model"


def _labels(zoos: Sequence[Zoo]) -> dict[str, str]:
    roots = {str(z.root): z.name for z in zoos}
    names = list(roots.values())
    return {root: name if names.count(name) == 1 else root for root, name in roots.items()}


def probe_many(
    features: Sequence[ManyFeatures],
    train: Sequence[Part],
    test: Sequence[Part],
    target: Target = "test_acc",
    seed: int = 0,
    val: Sequence[Part] | None = None,
    group_by: Sequence[str] = SIBLINGS,
) -> dict[str, dict]:
    """Fit each feature set on the ``train`` parts, a ridge probe (`RidgeProbe`: standardized
    features, alpha by validation R²) on ``target``, and score it on the ``test`` parts.

    ``target``: a zoo column (default test accuracy) or a function (zoo, rows) -> values.
    ``val``: the parts that choose alpha; without them a seeded 15 % of the training units
    (groups of siblings per zoo, `part_units`) is held out for it, so no model is on both
    sides. Returns, per feature set's name: ``r2`` and ``tau`` over all test rows,
    ``r2_by_zoo``, the test targets ``y`` and predictions ``pred`` (rows of ``test`` in order,
    the same for every feature set, so two sets pair row by row), ``units`` (the independent
    unit of each test row, prefixed by its zoo) and ``unit`` (its name) for
    `weightspace.stats.unit_resamples` / `paired_estimate`, ``zoos`` (each row's zoo), the
    chosen ``alpha``, the feature ``width`` and ``supervised`` (trained on the targets).
    """
    if not train or not test:
        raise ConfigError("parts", "at least one training and one test part", (train, test))
    y_train, y_test = part_values(train, target), part_values(test, target)
    units, zoos, unit = part_units(test, group_by)
    train_units = part_units(train, group_by)[0]
    fit_rows, val_rows = _hold_out_units(train_units, 0.15, seed) if val is None else (None, None)
    out = {}
    for method in features:
        method.fit_many(train)
        X_train = method.transform_many(train)
        if val is not None:
            X_fit, y_fit = X_train, y_train
            X_val, y_val = method.transform_many(val), part_values(val, target)
        elif val_rows is not None:
            X_fit, y_fit = X_train[fit_rows], y_train[fit_rows]
            X_val, y_val = X_train[val_rows], y_train[val_rows]
        else:  # one training unit: the probe selects on its own training rows
            X_fit, y_fit, X_val, y_val = X_train, y_train, None, None
        probe = RidgeProbe(random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LinAlgWarning)  # the smallest alphas meet
            warnings.filterwarnings("ignore", "Singular matrix", UserWarning)
            probe.fit(X_fit, y_fit, X_val, y_val)
        pred = np.asarray(probe.predict(method.transform_many(test)), dtype=float)
        out[method.name] = {
            "r2": r2(y_test, pred),
            "tau": tau(y_test, pred),
            "r2_by_zoo": {
                str(z): r2(y_test[zoos == z], pred[zoos == z]) for z in dict.fromkeys(zoos)
            },
            "y": y_test,
            "pred": pred,
            "units": units,
            "unit": unit,
            "zoos": zoos,
            "alpha": float(probe.alpha_),
            "width": int(X_train.shape[1]),
            "supervised": bool(getattr(method, "supervised", False)),
        }
    return out


def _hold_out_units(
    units: np.ndarray, share: float, seed: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Row positions kept and held out when a seeded ``share`` of the units (at least one, never
    all) is held out; (None, None) when there is only one unit."""
    keys = np.unique(units)
    if len(keys) < 2:
        return None, None
    count = min(len(keys) - 1, max(1, round(share * len(keys))))
    held = np.random.default_rng(seed).permutation(keys)[:count]
    mask = np.isin(units, held)
    return np.flatnonzero(~mask), np.flatnonzero(mask)
