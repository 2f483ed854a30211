"""The probing benchmark: every feature method x every zoo property, split by model.

Targets come from the zoo's table: test accuracy, epoch and generalization gap (regression,
test R^2), and every factor that varies in the zoo (numeric ones regression, categorical ones
classification, test accuracy).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.linalg import LinAlgWarning

from weightspace.errors import ConfigError
from weightspace.probe.features import Features
from weightspace.probe.probes import LogisticProbe, RidgeProbe
from weightspace.tokens.dataset import SplitConfig, split_rows
from weightspace.zoo.reader import Zoo
from weightspace.zoo.storage import atomic_write_bytes

ALWAYS = ("test_acc", "epoch", "ggap")
NUMERIC_FACTORS = ("lr", "weight_decay", "dropout")
CATEGORICAL_FACTORS = ("activation", "init", "optimizer")


@dataclass(frozen=True)
class Target:
    name: str
    categorical: bool


def zoo_targets(zoo: Zoo) -> list[Target]:
    """The properties worth predicting in ``zoo``: metrics, and factors that vary."""
    targets = [Target(name, False) for name in ALWAYS]
    for names, categorical in ((NUMERIC_FACTORS, False), (CATEGORICAL_FACTORS, True)):
        for name in names:
            if name in zoo.table.column_names and len(set(zoo.column(name).tolist())) > 1:
                targets.append(Target(name, categorical))
    return targets


@dataclass
class ProbeReport:
    """Scores ``{method: {target: score}}`` (R^2, or accuracy for categorical targets) and the
    test-split predictions of test accuracy per method."""

    scores: dict[str, dict[str, float]]
    targets: list[Target]
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    models: dict[str, list[int]] = field(default_factory=dict)  # split -> model ids

    def markdown(self) -> str:
        names = [t.name + (" (acc)" if t.categorical else " (R²)") for t in self.targets]
        lines = ["| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for method, row in self.scores.items():
            cells = [f"{row[t.name]:.3f}" for t in self.targets]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps(self.scores, indent=2)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["method", *[t.name for t in self.targets]])
        for method, row in self.scores.items():
            writer.writerow([method, *[f"{row[t.name]:.6f}" for t in self.targets]])
        return buffer.getvalue()

    def plot(self, path: str | Path) -> None:
        """Predicted vs true test accuracy on the test split, one panel per method (PNG)."""
        from weightspace.report.figures import png, predicted_vs_true

        r2 = {m: row["test_acc"] for m, row in self.scores.items()}
        atomic_write_bytes(Path(path), png(predicted_vs_true(self.predictions, r2)))


def run_probes(
    zoo: Zoo,
    methods: Sequence[Features],
    splits: SplitConfig | None = None,
    epochs: Sequence[int] | None = None,
) -> ProbeReport:
    """Fit each feature method on the training models, probe every target, score on test."""
    splits = splits or SplitConfig()
    rows = {s: split_rows(zoo, s, splits, epochs) for s in ("train", "val", "test")}
    ids = {s: set(zoo.column("model_id")[r].tolist()) for s, r in rows.items()}
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    if min(len(r) for r in rows.values()) == 0:
        raise ConfigError(
            "zoo",
            "models in each of the train, val and test splits",
            {s: len(r) for s, r in rows.items()},
            fix="Probe a zoo with more models",
        )
    targets = zoo_targets(zoo)
    report = ProbeReport({}, targets, models={s: sorted(i) for s, i in ids.items()})
    for method in methods:
        method.fit(zoo, rows["train"])
        X = {s: method.transform(zoo, r) for s, r in rows.items()}
        scores = {}
        for target in targets:
            y = {s: zoo.column(target.name)[r] for s, r in rows.items()}
            probe = LogisticProbe() if target.categorical else RidgeProbe()
            if target.categorical and len(set(y["train"].tolist())) < 2:
                scores[target.name] = float("nan")
                continue
            with warnings.catch_warnings():  # the smallest alphas meet ill-conditioned systems
                warnings.simplefilter("ignore", LinAlgWarning)
                warnings.filterwarnings("ignore", "Singular matrix", UserWarning)
                probe.fit(X["train"], y["train"], X["val"], y["val"])
            scores[target.name] = float(probe.score(X["test"], y["test"]))
            if target.name == "test_acc":
                report.predictions[method.name] = (y["test"], probe.predict(X["test"]))
        report.scores[method.name] = scores
    return report
