"""The probe table: scores with 95 % bootstrap intervals over the split's independent test
units, the best per column, and which differences exceed the noise; as Markdown, JSON and CSV.
Its ``split`` records ``unit`` (group or model) and ``test_units`` (how many)."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from weightspace.stats import LEVEL, paired_difference
from weightspace.zoo.storage import atomic_write_bytes

BEATEN = "†"  # below the column's best by more than the bootstrap noise


@dataclass(frozen=True)
class Target:
    """A property to predict. ``log``: regressed on log10 of the value (log-spaced factors).
    ``metric``: r2 (regression), accuracy (classification) or tau (Kendall's rank correlation)."""

    name: str
    categorical: bool
    log: bool = False
    metric: str = ""

    def __post_init__(self) -> None:
        if not self.metric:
            object.__setattr__(self, "metric", "accuracy" if self.categorical else "r2")

    @property
    def key(self) -> str:
        return f"{self.name}_tau" if self.metric == "tau" else self.name

    @property
    def label(self) -> str:
        unit = {"r2": "R²", "accuracy": "acc", "tau": "τ"}[self.metric]
        return f"{self.name} ({'log, ' if self.log else ''}{unit})"


@dataclass
class ProbeReport:
    """Scores ``{method: {target key: score}}`` (R², accuracy or τ on the test models), their
    bootstrap intervals, the bootstrap scores themselves (for paired comparisons), optional
    repeated-split means and standard deviations, and the split they were measured on."""

    scores: dict[str, dict[str, float]]
    targets: list[Target]
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    models: dict[str, list[int]] = field(default_factory=dict)  # split -> model ids
    intervals: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    boot: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    repeats: dict[str, dict[str, tuple[float, float, int]]] = field(default_factory=dict)
    split: dict = field(default_factory=dict)  # kind, seed, siblings across train/test
    marks: dict[str, dict[str, bool]] = field(default_factory=dict)  # `beaten`, when stored
    unconverged: dict[str, list[str]] = field(default_factory=dict)  # method -> target keys
    supervised: list[str] = field(default_factory=list)  # methods trained on the targets

    # ---- comparisons -----------------------------------------------------------------------
    def difference(self, a: str, b: str, key: str) -> tuple[float, float, float]:
        """(mean, low, high) of score(a) - score(b) for ``key`` over paired bootstrap draws."""
        return paired_difference(self.boot[a][key], self.boot[b][key])

    def best(self, key: str) -> str | None:
        values = {m: row[key] for m, row in self.scores.items() if math.isfinite(row[key])}
        return max(values, key=values.get) if values else None

    def beaten(self, method: str, key: str) -> bool:
        """True when ``method`` is below the column's best beyond the 95 % paired interval."""
        if not self.boot:  # a report read back from JSON carries the marks it had
            return bool(self.marks.get(method, {}).get(key, False))
        best = self.best(key)
        if best is None or best == method:
            return False
        _, low, _ = self.difference(best, method, key)
        return bool(np.isfinite(low) and low > 0)

    # ---- rendering ---------------------------------------------------------------------------
    def cell(self, method: str, key: str) -> str:
        value = self.scores[method][key]
        text = f"{value:.3f}"
        if method in self.intervals and key in self.intervals[method]:
            low, high = self.intervals[method][key]
            if math.isfinite(low):
                text += f" [{low:.2f}, {high:.2f}]"
        if self.best(key) == method:
            return f"**{text}**"
        return text + (f" {BEATEN}" if self.beaten(method, key) else "")

    def markdown(self) -> str:
        names = [t.label for t in self.targets]
        lines = ["| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for method in self.scores:
            cells = [self.cell(method, t.key) for t in self.targets]
            mark = " ‡" if method in self.supervised else ""
            lines.append(f"| {method}{mark} | " + " | ".join(cells) + " |")
        if self.supervised:
            lines.append(
                "\n‡ supervised: trained on the probed targets of the training models (inner "
                "hold-out by group), not a representation learned without labels."
            )
        unit = self.split.get("unit", "model")
        if any(self.intervals.values()):  # a table read back from JSON keeps empty entries
            lines.append(
                f"\n[low, high]: {LEVEL:.0%} bootstrap interval over the "
                f"{self.split.get('test_units', '?')} independent test {unit}s; **best**; "
                f"{BEATEN}: below the best by more than that noise (paired bootstrap)."
            )
        elif "test_units" in self.split:
            lines.append(
                f"\nno intervals: {self.split['test_units']} independent test {unit}s, fewer "
                f"than the {self.split.get('min_units', 8)} an interval needs."
            )
        if self.unconverged:
            cells = "; ".join(f"{m}: {', '.join(k)}" for m, k in self.unconverged.items())
            lines.append(f"\nnot converged (logistic probe, 1000 iterations): {cells}.")
        if self.repeats:
            lines += ["", self.repeats_markdown()]
        return "\n".join(lines)

    def repeats_markdown(self) -> str:
        k = max((r[2] for row in self.repeats.values() for r in row.values()), default=0)
        names = [t.label for t in self.targets]
        lines = [f"repeated splits ({k} seeds, mean ± std):", ""]
        lines += ["| method | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for method in self.scores:
            row = self.repeats.get(method)
            cells = [
                f"{row[t.key][0]:.3f} ± {row[t.key][1]:.3f}" if row else "one split (fitted)"
                for t in self.targets
            ]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def title(self) -> str:
        s = self.split
        if not s:
            return "split: unknown"
        units = ""
        if "test_units" in s and s.get("unit") != "model":
            units = f" in {s['test_units']} independent {s['unit']}s"
        return (
            f"split {s['kind']} (seed {s['seed']}): {len(self.models.get('test', []))} test "
            f"models{units}; {s['siblings']} sibling pairs (same seed and init) across train "
            "and test"
        )

    def to_dict(self) -> dict:
        return {
            "split": self.split,
            "targets": [t.__dict__ for t in self.targets],
            "scores": self.scores,
            "intervals": {m: {k: list(v) for k, v in r.items()} for m, r in self.intervals.items()},
            "repeats": {m: {k: list(v) for k, v in r.items()} for m, r in self.repeats.items()},
            "beaten": {
                m: {t.key: self.beaten(m, t.key) for t in self.targets} for m in self.scores
            },
            "models": self.models,
            "supervised": self.supervised,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["method", "target", "score", "low", "high", "beaten", "split"])
        for method, row in self.scores.items():
            for t in self.targets:
                low, high = self.intervals.get(method, {}).get(t.key, (math.nan, math.nan))
                writer.writerow(
                    [method, t.key, f"{row[t.key]:.6f}", f"{low:.6f}", f"{high:.6f}"]
                    + [int(self.beaten(method, t.key)), self.split.get("kind", "")]
                )
        return buffer.getvalue()

    def plot(self, path: str | Path) -> None:
        """Predicted vs true test accuracy on the test split, one panel per method (PNG)."""
        from weightspace.figures import png
        from weightspace.report.figures import predicted_vs_true

        r2 = {m: row["test_acc"] for m, row in self.scores.items()}
        atomic_write_bytes(Path(path), png(predicted_vs_true(self.predictions, r2)))
