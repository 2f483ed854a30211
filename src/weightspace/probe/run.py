"""The probing benchmark: every feature method x every zoo property, split by model.

Targets come from the zoo's table: test accuracy (R² and Kendall's τ), epoch and generalization
gap (regression, test R²), and every factor that varies in the zoo (numeric ones regression --
on a log scale where the values span a decade or more, as lr and weight-decay grids do --,
categorical ones classification, test accuracy). Every score carries a 95 % bootstrap interval
over the split's independent test units (groups of siblings, or models; fewer than 8: their
count, no interval); ``repeats`` adds repeated splits (k split seeds, mean ± std).

The split is the encoders' own (saved with them): probing an encoder on another split, where
its training models could be test models, is an error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.linalg import LinAlgWarning
from sklearn.exceptions import ConvergenceWarning

from weightspace.errors import ConfigError
from weightspace.probe.features import EncoderFeatures, Features
from weightspace.probe.probes import LogisticProbe, RidgeProbe
from weightspace.probe.report import ProbeReport, Target
from weightspace.stats import (
    METRICS,
    MIN_UNITS,
    bootstrap_scores,
    count_units,
    interval,
    unit_resamples,
)
from weightspace.tokens.splits import (
    DEFAULT,
    Split,
    SplitConfig,
    check_part_sizes,
    check_same_split,
    encoder_split,
    resolve_split,
    siblings_across,
    unit_keys,
)
from weightspace.zoo.reader import Zoo

ALWAYS = ("test_acc", "epoch", "ggap")
NUMERIC_FACTORS = ("lr", "weight_decay", "dropout", "train_fraction")
CATEGORICAL_FACTORS = ("activation", "init", "optimizer")
__all__ = [
    "ProbeReport",
    "Target",
    "probe_splits",
    "run_probes",
    "zoo_targets",
]


def zoo_targets(zoo: Zoo) -> list[Target]:
    """The properties worth predicting in ``zoo``: metrics, and factors that vary."""
    targets = [Target("test_acc", False), Target("test_acc", False, metric="tau")]
    targets += [Target(name, False) for name in ALWAYS[1:] if name in zoo.table.column_names]
    for names, categorical in ((NUMERIC_FACTORS, False), (CATEGORICAL_FACTORS, True)):
        for name in names:
            if name not in zoo.table.column_names or len(set(zoo.column(name).tolist())) < 2:
                continue
            values = np.asarray(zoo.column(name)) if not categorical else None
            log = bool(
                values is not None and values.min() > 0 and values.max() >= 10 * values.min()
            )
            targets.append(Target(name, categorical, log))
    return targets


@dataclass
class _Fitted:
    """One method's test predictions per target key, on one split."""

    scores: dict[str, float]
    y: dict[str, np.ndarray]
    pred: dict[str, np.ndarray]
    unconverged: list[str] = field(default_factory=list)  # target keys whose solver gave up


def _split_of(zoo: Zoo, methods: Sequence[Features], split: SplitConfig | Split | None) -> Split:
    """The probe split: the encoders' own; a different one asked for is an error."""
    owned = [(m.name, encoder_split(m.encoder, zoo)) for m in methods if _fitted_encoder(m)]
    for (name, s), (other, t) in zip(owned, owned[1:], strict=False):
        check_same_split(s, t, f"{name} (and {other}: probe them separately)")
    if split is None:
        return owned[0][1] if owned else resolve_split(zoo, DEFAULT)
    chosen = resolve_split(zoo, split)
    for name, s in owned:
        check_same_split(s, chosen, name)
    return chosen


def _fitted_encoder(method: Features) -> bool:
    return isinstance(method, EncoderFeatures) and method.factory is None


def run_probes(
    zoo: Zoo,
    methods: Sequence[Features],
    splits: SplitConfig | Split | None = None,
    epochs: Sequence[int] | None = None,
    bootstrap: int = 1000,
    repeats: int = 1,
    seed: int = 0,
    min_units: int = MIN_UNITS,
) -> ProbeReport:
    """Fit each feature method on the training models, probe every target, score on test.

    ``bootstrap``: resamples for the intervals (0: none), drawn over the split's independent
    test units -- groups on a grouped split, models on a plain one (`unit_keys`); with fewer
    than ``min_units`` of them the report gives their count and no interval. ``repeats``: k > 1
    also refits everything on k split seeds (``seed, seed + 1, ...`` of the split setting) and
    reports mean ± std; an already fitted encoder has one split and is left out of those.
    """
    if repeats < 1 or bootstrap < 0 or min_units < 2:
        raise ConfigError(
            "repeats/bootstrap/min_units",
            "repeats >= 1, bootstrap >= 0 and min_units >= 2",
            (repeats, bootstrap, min_units),
        )
    split = _split_of(zoo, methods, splits)
    targets = zoo_targets(zoo)
    fitted, test_rows, models = _probe_once(zoo, methods, split, targets, epochs)
    report = ProbeReport({}, targets, models=models)
    report.supervised = [m.name for m in methods if getattr(m, "supervised", False)]
    units, unit = unit_keys(zoo, split, test_rows)
    report.split = {
        "kind": split.kind,
        "seed": split.config.seed,
        "group_by": list(split.grouped_by),
        "siblings": len(siblings_across(zoo, split)),
        "unit": unit,
        "test_units": count_units(units),
        "min_units": min_units,
    }
    enough = report.split["test_units"] >= min_units
    resamples = unit_resamples(units, bootstrap, seed) if bootstrap and enough else []
    for name, fit in fitted.items():
        report.scores[name] = fit.scores
        if fit.unconverged:
            report.unconverged[name] = fit.unconverged
        report.predictions[name] = (fit.y["test_acc"], fit.pred["test_acc"])
        if not resamples:
            continue
        report.boot[name] = {
            t.key: bootstrap_scores(t.metric, fit.y[t.key], fit.pred[t.key], resamples)
            for t in targets
            if t.key in fit.y
        }
        report.intervals[name] = {k: interval(v) for k, v in report.boot[name].items()}
    if repeats > 1:
        report.repeats = _repeated(zoo, methods, split.config, targets, epochs, repeats)
    return report


def _repeated(zoo, methods, config, targets, epochs, repeats):  # noqa: ANN001, ANN202
    """{method: {key: (mean, std, k)}} over k split seeds; fitted encoders are left out."""
    refittable = [m for m in methods if not _fitted_encoder(m)]
    runs: dict[str, list[dict[str, float]]] = {m.name: [] for m in refittable}
    for k in range(repeats):
        split = resolve_split(zoo, replace(config, seed=config.seed + k))
        fitted, _, _ = _probe_once(zoo, refittable, split, targets, epochs)
        for name, fit in fitted.items():
            runs[name].append(fit.scores)
    return {
        name: {
            t.key: (
                float(np.nanmean([r[t.key] for r in rs])),
                float(np.nanstd([r[t.key] for r in rs])),
                len(rs),
            )
            for t in targets
        }
        for name, rs in runs.items()
    }


def _probe_once(zoo, methods, split, targets, epochs):  # noqa: ANN001, ANN202
    """({method: _Fitted}, test rows, {split: model ids}) on one split."""
    rows = {s: split.rows(zoo, s, epochs) for s in ("train", "val", "test")}
    model_ids = zoo.column("model_id")
    counts = {s: len(set(model_ids[r].tolist())) for s, r in rows.items()}
    check_part_sizes(counts, PROBE_MINIMUM, split.kind, "to probe")
    out = {}
    for method in methods:
        features = method.for_split(zoo, split) if hasattr(method, "for_split") else method
        features.fit(zoo, rows["train"])
        X = {s: features.transform(zoo, r) for s, r in rows.items()}
        out[method.name] = _fit_targets(zoo, X, rows, targets)
    models = {s: sorted(set(model_ids[r].tolist())) for s, r in rows.items()}
    return out, rows["test"], models


# fewer models than this in a part: a probe cannot be fitted, tuned or scored (R² over the
# checkpoints of one test model measures its epochs, not models)
PROBE_MINIMUM = {"train": 2, "val": 1, "test": 2}


def _fit_targets(zoo: Zoo, X: dict, rows: dict, targets: list[Target]) -> _Fitted:
    fit = _Fitted({}, {}, {})
    for target in targets:
        y = {s: zoo.column(target.name)[r] for s, r in rows.items()}
        if target.log:
            y = {s: np.log10(v.astype(float)) for s, v in y.items()}
        if target.categorical and len(set(y["train"].tolist())) < 2:
            fit.scores[target.key] = float("nan")
            continue
        probe = LogisticProbe() if target.categorical else RidgeProbe()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", LinAlgWarning)  # the smallest alphas meet
            warnings.filterwarnings("ignore", "Singular matrix", UserWarning)  # ill-conditioning
            warnings.simplefilter("always", ConvergenceWarning)  # reported once, in the table
            probe.fit(X["train"], y["train"], X["val"], y["val"])
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            fit.unconverged.append(target.key)
        pred = probe.predict(X["test"])
        fit.y[target.key], fit.pred[target.key] = np.asarray(y["test"]), np.asarray(pred)
        fit.scores[target.key] = METRICS[target.metric](fit.y[target.key], fit.pred[target.key])
    return fit


def probe_splits(
    zoo: Zoo,
    methods: Sequence[Features],
    splits: Sequence[SplitConfig],
    **kwargs,
) -> list[ProbeReport]:
    """One report per split setting (e.g. grouped and plain, side by side). A fitted encoder
    joins only the report of the split it was trained on, and must match one of them."""
    reports, used = [], set()
    for config in splits:
        split = resolve_split(zoo, config)
        chosen = []
        for m in methods:
            if _fitted_encoder(m):
                if encoder_split(m.encoder, zoo).models != split.models:
                    continue
                used.add(m.name)
            chosen.append(m)
        reports.append(run_probes(zoo, chosen, split, **kwargs))
    missing = [m.name for m in methods if _fitted_encoder(m) and m.name not in used]
    if missing:
        raise ConfigError(
            "--split",
            f"the split {missing[0]} was trained on among the splits asked for",
            [c.kind for c in splits],
            fix="Add that split (its seed and grouping), or leave --split out",
        )
    return reports
