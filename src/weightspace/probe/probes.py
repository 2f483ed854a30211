"""Linear probes as scikit-learn estimators, with the regularization chosen on a validation split.

The 2021 protocol (Schürholt et al., NeurIPS 2021): ridge regression with alpha from
{1e3, 3e2, ..., 3e-5, 1e-5} by validation R^2, test R^2 reported; a linear classifier
(logistic regression) for categorical targets, test accuracy reported. Features are
standardized with the training statistics.
Pass the validation split as ``X_val, y_val``; without it a seeded share of the training rows
is held out (which is what scikit-learn's generic tools, e.g. ``cross_val_score``, get).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from weightspace.stats import accuracy, r2

ALPHAS = (
    1e3,
    3e2,
    1e2,
    3e1,
    1e1,
    3.0,
    1.0,
    3e-1,
    1e-1,
    3e-2,
    1e-2,
    3e-3,
    1e-3,
    3e-4,
    1e-4,
    3e-5,
    1e-5,
)


def _holdout(estimator, X, y, X_val, y_val, stratify: bool):  # noqa: ANN001, ANN202
    """The validation data: the given split, else a seeded hold-out of the training rows."""
    if X_val is not None:
        X_val, y_val = validate_data(estimator, X_val, y_val, reset=False)
        return X, y, X_val, y_val
    if len(X) < 5:  # too few to hold any out: select on the training rows themselves
        return X, y, X, y
    labels = y if stratify and np.min(np.unique(y, return_counts=True)[1]) >= 2 else None
    try:
        X_fit, X_val, y_fit, y_val = train_test_split(
            X,
            y,
            test_size=estimator.validation_fraction,
            random_state=estimator.random_state,
            stratify=labels,
        )
    except ValueError:  # a stratified split that cannot hold every class out
        return X, y, X, y
    if stratify and len(np.unique(y_fit)) < 2:
        return X, y, X, y
    return X_fit, y_fit, X_val, y_val


class RidgeProbe(RegressorMixin, BaseEstimator):
    """Ridge regression on standardized features; ``alpha_`` chosen by validation R^2.

    Example:
        >>> probe = RidgeProbe().fit(X_train, y_train, X_val, y_val)
        >>> probe.score(X_test, y_test)  # test R^2
    """

    def __init__(self, alphas=ALPHAS, validation_fraction: float = 0.15, random_state: int = 0):
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None) -> RidgeProbe:  # noqa: ANN001
        X, y = validate_data(self, X, y, y_numeric=True)
        X_fit, y_fit, X_val, y_val = _holdout(self, X, y, X_val, y_val, stratify=False)
        scaler = StandardScaler().fit(X_fit)
        self.validation_scores_ = {}
        for alpha in self.alphas:
            model = Ridge(alpha=alpha).fit(scaler.transform(X_fit), y_fit)
            pred = model.predict(scaler.transform(X_val))
            self.validation_scores_[alpha] = _r2(y_val, pred)
        self.alpha_ = max(self.alphas, key=lambda a: self.validation_scores_[a])
        self.scaler_ = StandardScaler().fit(X)
        self.model_ = Ridge(alpha=self.alpha_).fit(self.scaler_.transform(X), y)
        return self

    def predict(self, X):  # noqa: ANN001, ANN201
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(self.scaler_.transform(X))


class LogisticProbe(ClassifierMixin, BaseEstimator):
    """Logistic regression on standardized features; ``C_`` = 1/alpha by validation accuracy."""

    def __init__(self, alphas=ALPHAS, validation_fraction: float = 0.15, random_state: int = 0):
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None) -> LogisticProbe:  # noqa: ANN001
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"LogisticProbe needs 2 or more classes; got 1 class {self.classes_}")
        X_fit, y_fit, X_val, y_val = _holdout(self, X, y, X_val, y_val, stratify=True)
        scaler = StandardScaler().fit(X_fit)
        self.validation_scores_ = {}
        for alpha in self.alphas:
            model = LogisticRegression(C=1.0 / alpha, max_iter=1000)
            model.fit(scaler.transform(X_fit), y_fit)
            self.validation_scores_[alpha] = accuracy(y_val, model.predict(scaler.transform(X_val)))
        self.alpha_ = max(self.alphas, key=lambda a: self.validation_scores_[a])
        self.scaler_ = StandardScaler().fit(X)
        self.model_ = LogisticRegression(C=1.0 / self.alpha_, max_iter=1000)
        self.model_.fit(self.scaler_.transform(X), y)
        return self

    def decision_function(self, X):  # noqa: ANN001, ANN201
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.decision_function(self.scaler_.transform(X))

    def predict_proba(self, X):  # noqa: ANN001, ANN201
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict_proba(self.scaler_.transform(X))

    def predict(self, X):  # noqa: ANN001, ANN201
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self.model_.predict(self.scaler_.transform(X))


def _r2(y, pred) -> float:  # noqa: ANN001
    score = r2(y, pred) if len(y) > 1 else -np.inf  # constant y (NaN) ranks last too
    return float(score) if np.isfinite(score) else -np.inf
