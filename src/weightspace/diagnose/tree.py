"""The MD tree (Zhou et al. 2024): a fixed-shape decision tree on loss-landscape metrics whose
thresholds are fitted one at a time, plus the depth-4 decision-tree baselines.

A shape is a nested tuple: a leaf is a label string, a split is ``(threshold index, left,
right)`` and sends a row left when ``feature <= threshold``. Each threshold belongs to one
feature and has an initial value and bounds.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.tree import DecisionTreeClassifier

from weightspace.diagnose.config import (  # noqa: F401 (Threshold: re-exported)
    SHAPES,
    Node,
    Threshold,
    TreeShape,
)
from weightspace.diagnose.labels import counted
from weightspace.diagnose.tables import Table, columns, select
from weightspace.errors import ConfigError, FileFormatError, NotFittedError, check_choice
from weightspace.zoo.storage import atomic_write_json, read_json


def _leaf_path(node: Node, values: np.ndarray, thresholds: np.ndarray, path: list) -> str:
    """Walk one row (values (T,), one per threshold) to its leaf; record the comparisons.

    NaN compares false and goes right, like a value above every threshold."""
    while not isinstance(node, str):
        index, left, right = node
        go_left = bool(values[index] <= thresholds[index])
        path.append((index, float(values[index]), float(thresholds[index]), go_left))
        node = left if go_left else right
    return node


def counted_rows(table: Table, label: str, why: str = "rows to fit or score") -> Table:
    """The table's rows that count for a label (`labels.counted`: all but 'optimal')."""
    if label not in table:
        raise ConfigError(
            "metrics table", f"a column {label!r} ({why})", f"columns {sorted(table)}"
        )
    rows = select(table, counted(table[label]))
    if len(rows[label]) == 0:
        raise ConfigError(
            "metrics table", f"rows labelled other than 'optimal' in {label!r} ({why})", 0
        )
    return rows


class MDTree:
    """A fixed-shape tree whose thresholds are fitted by bounded scalar minimisation.

    Example:
        >>> tree = MDTree("temperature").fit(train_table)
        >>> tree.score(test_table)
    """

    def __init__(
        self,
        question: str = "temperature",
        search: Literal["bounded", "scan"] = "bounded",
        bounds: Literal["published", "data"] = "published",
        passes: int = 1,
    ) -> None:
        check_choice("question", question, tuple(SHAPES))
        check_choice("search", search, ("bounded", "scan"))
        check_choice("bounds", bounds, ("published", "data"))
        if passes < 1:
            raise ConfigError("passes", "an integer >= 1", passes)
        self.question = question
        self.search = search
        self.bounds = bounds  # "data": each threshold ranges over its feature's fitted values
        self.passes = passes  # the published fit is one pass; more passes revisit each threshold

    @property
    def shape(self) -> TreeShape:
        return SHAPES[self.question]

    def _matrix(self, table: Table) -> np.ndarray:
        names = [t.feature for t in self.shape.thresholds]
        return columns(table, names, f"a feature of the {self.question} tree")  # (R, T)

    def _predict(self, features: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        return np.array([_leaf_path(self.shape.root, f, thresholds, []) for f in features])

    def fit(self, table: Table) -> MDTree:
        """Fit the thresholds in order, each with the others fixed, to maximise accuracy.

        Rows labelled 'optimal' are left out (`labels.counted`), as in the paper."""
        table = counted_rows(table, self.shape.label, "rows to fit on")
        features, labels = self._matrix(table), np.asarray(table[self.shape.label]).astype(str)
        thresholds = np.array([t.init for t in self.shape.thresholds], dtype=float)
        for _, (i, t) in itertools.product(range(self.passes), enumerate(self.shape.thresholds)):
            low, high = t.low, t.high
            if self.bounds == "data":
                column = features[np.isfinite(features[:, i]), i]
                if column.size == 0:
                    raise ConfigError(
                        "metrics table", f"finite values of {t.feature!r} (--bounds data)", 0
                    )
                low, high = float(column.min()), float(column.max())

            def loss(value: float, i: int = i) -> float:
                trial = thresholds.copy()
                trial[i] = value
                return -float((self._predict(features, trial) == labels).mean())

            thresholds[i] = self._minimise(loss, features[:, i], low, high, thresholds[i])
        self.thresholds_ = thresholds
        return self

    def _minimise(self, loss, column, low: float, high: float, current: float) -> float:  # noqa: ANN001
        if self.search == "bounded":
            return float(minimize_scalar(loss, bounds=(low, high), method="bounded").x)
        # "scan": the loss is piecewise constant, so midpoints between data values are exact;
        # among equally good values keep the one nearest the current threshold
        values = np.unique(column[np.isfinite(column) & (column >= low) & (column <= high)])
        candidates = np.concatenate([[low], (values[1:] + values[:-1]) / 2, [high], [current]])
        candidates = np.clip(candidates, low, high)
        scores = np.array([loss(c) for c in candidates])
        best = np.flatnonzero(scores == scores.min())
        return float(candidates[best[np.argmin(np.abs(candidates[best] - current))]])

    def predict(self, table: Table) -> np.ndarray:
        self._check_fitted()
        return self._predict(self._matrix(table), self.thresholds_)

    def score(self, table: Table) -> float:
        """Accuracy over the rows that count: 'optimal' rows are dropped, as `evaluate` does."""
        self._check_fitted()
        table = counted_rows(table, self.shape.label, "rows to score")
        return float(
            (self.predict(table) == np.asarray(table[self.shape.label]).astype(str)).mean()
        )

    def explain(self, row: dict[str, float]) -> tuple[str, list[str]]:
        """The label of one row and the comparisons that decided it."""
        self._check_fitted()
        values = self._matrix({k: np.array([v]) for k, v in row.items()})[0]
        path: list = []
        label = _leaf_path(self.shape.root, values, self.thresholds_, path)
        lines = [
            f"{self.shape.thresholds[i].feature} = {value:.4g} {'<=' if left else '>'} {tau:.4g}"
            for i, value, tau, left in path
        ]
        return label, lines

    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise NotFittedError("MDTree: call fit(table) or load a fitted tree first")

    def save(self, path: str | Path) -> None:
        self._check_fitted()
        atomic_write_json(Path(path), {
            "format": "weightspace-md-tree", "version": 1, "question": self.question,
            "search": self.search, "bounds": self.bounds, "passes": self.passes,
            "features": [t.feature for t in self.shape.thresholds],
            "thresholds": [float(t) for t in self.thresholds_],
        })  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> MDTree:
        raw = read_json(Path(path), "fitted tree", "Write one with `weightspace diagnose fit`")
        if raw.get("format") != "weightspace-md-tree" or raw.get("question") not in SHAPES:
            raise FileFormatError(path, "not a fitted MD tree", "Write one with `diagnose fit`")
        tree = cls(
            raw["question"],
            raw.get("search", "bounded"),
            raw.get("bounds", "published"),
            int(raw.get("passes", 1)),
        )
        thresholds = np.asarray(raw.get("thresholds", []), dtype=float)
        if len(thresholds) != len(tree.shape.thresholds):
            raise FileFormatError(path, f"expected {len(tree.shape.thresholds)} thresholds")
        if not np.isfinite(thresholds).all():  # a NaN threshold sends every row one way
            raise FileFormatError(
                path, "its thresholds must be finite numbers", "Refit it with `diagnose fit`"
            )
        tree.thresholds_ = thresholds
        return tree


# The baseline trees' features in the order of the authors' released scripts
# (github.com/YefanZhou/ModelDiagnosis, scripts/q1_*.sh, scripts/q2_*.sh): the order matters, since
# scikit-learn breaks ties between equally good splits by a seeded feature permutation. The
# landscape tree's order is that of the dataset-transfer and width-question scripts (the
# width-limit block of q1_predict_temp_scale_transfer.sh lists hessian_t before CKA).
BASELINE_FEATURES = {
    "hyperparameter": ("log_data_amount", "log_para_amount"),  # hyperparameters="both"
    "validation": ("train_error", "train_loss", "test_loss", "test_error"),
    "landscape": ("train_error", "mode_connectivity_peak", "CKA", "hessian_t"),
}

# The hyperparameter tree's features per label, as the authors' released scripts run it
# (github.com/YefanZhou/ModelDiagnosis, scripts/q1_*.sh, q2_predict_width_temp.sh,
# q2_predict_data_temp.sh): both hyperparameters for the temperature question, the data amount
# alone for width vs batch, the parameter count alone for data vs batch, so the tree never
# sees the hyperparameter its question is about. The paper's hyperparameter-tree figure for
# width vs batch is 53.54 % in both its random-fractions and its data <= 5k case, consistent
# with one feature that is constant over the fitting rows (the tree predicts their majority).
HYPERPARAMETER_FEATURES = {
    "bs_failure": ("log_data_amount", "log_para_amount"),
    "width_vs_batch": ("log_data_amount",),
    "data_vs_batch": ("log_para_amount",),
}
HYPERPARAMETER_CHOICES = ("published", "both")


def baseline_features(features: str, label: str, hyperparameters: str = "published") -> tuple:
    """The columns of a baseline tree. ``hyperparameters="both"``: log data amount and log
    parameter count for every question (a deviation: the released scripts use one per Q2)."""
    check_choice("baseline features", features, tuple(BASELINE_FEATURES))
    check_choice("hyperparameters", hyperparameters, HYPERPARAMETER_CHOICES)
    if features != "hyperparameter" or hyperparameters == "both":
        return BASELINE_FEATURES[features]
    if label not in HYPERPARAMETER_FEATURES:
        raise ConfigError(
            "label", f"one of {', '.join(HYPERPARAMETER_FEATURES)}", label,
            "Or pass hyperparameters='both'",
        )  # fmt: skip
    return HYPERPARAMETER_FEATURES[label]


class BaselineTree:
    """A depth-4 gini decision tree on one feature set (hyperparameters, validation, landscape).

    Rows labelled 'optimal' are left out of fitting and scoring (`labels.counted`)."""

    def __init__(
        self,
        features: str,
        label: str,
        seed: int = 0,
        depth: int = 4,
        hyperparameters: Literal["published", "both"] = "published",
    ) -> None:
        self.columns = baseline_features(features, label, hyperparameters)
        self.features, self.label, self.seed, self.depth = features, label, seed, depth

    def _matrix(self, table: Table) -> np.ndarray:
        x = columns(table, self.columns, f"{self.features} baseline")
        return np.nan_to_num(x, nan=0.0)  # a missing metric (e.g. ln of a negative trace)

    def fit(self, table: Table) -> BaselineTree:
        table = counted_rows(table, self.label, "rows to fit on")
        self.tree_ = DecisionTreeClassifier(max_depth=self.depth, random_state=self.seed)
        self.tree_.fit(self._matrix(table), np.asarray(table[self.label]).astype(str))
        return self

    def score(self, table: Table) -> float:
        """Accuracy over the rows that count, like `MDTree.score`."""
        if not hasattr(self, "tree_"):
            raise NotFittedError("BaselineTree: call fit(table) first")
        table = counted_rows(table, self.label, "rows to score")
        predicted = self.tree_.predict(self._matrix(table))
        return float((predicted == np.asarray(table[self.label]).astype(str)).mean())
