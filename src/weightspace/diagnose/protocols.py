"""Transfer protocols of the MD-tree paper: fit on one collection, score on another.

``dataset``: fit on the configurations of k random (data, width) pairs of the training
collection (all their batch sizes), score on the whole test collection. ``scale-data`` /
``scale-params``: fit only on configurations with little data or few parameters. Rows labelled
'optimal' are left out of fitting and scoring. Each seed draws its own pairs; results are means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from weightspace.diagnose.tables import Table, columns, select
from weightspace.diagnose.tree import SHAPES, BaselineTree, MDTree
from weightspace.errors import ConfigError

METHODS = ("md", "validation", "hyperparameter", "landscape")


@dataclass(frozen=True)
class EvaluateConfig:
    """Which question, which protocol, and the protocol's settings."""

    question: Literal["temperature", "temperature-cka", "width", "data"] = field(
        default="temperature", metadata={"help": "the failure to diagnose"}
    )
    protocol: Literal["dataset", "scale-data", "scale-params"] = field(
        default="dataset", metadata={"help": "how the fitting rows are chosen"}
    )
    pairs: int = field(default=8, metadata={"help": "(data, width) pairs fitted on (dataset)"})
    max_data: float = field(default=5000, metadata={"help": "largest data amount (scale-data)"})
    max_params: float = field(default=11000, metadata={"help": "most parameters (scale-params)"})
    min_width: int = field(
        default=-1, metadata={"help": "leave out narrower models; -1: the question's default"}
    )
    seeds: tuple[int, ...] = field(default=(42, 90, 38, 18, 72), metadata={"help": "repeats"})
    search: Literal["bounded", "scan"] = field(
        default="bounded",
        metadata={"help": "threshold fit: bounded scalar minimisation (published) or exact scan"},
    )
    bounds: Literal["published", "data"] = field(
        default="published",
        metadata={"help": "threshold bounds: the published ones, or each feature's fitted range"},
    )
    passes: int = field(
        default=1, metadata={"help": "times each threshold is fitted in turn (published: 1)"}
    )

    def __post_init__(self) -> None:
        if self.passes < 1:
            raise ConfigError("passes", "an integer >= 1", self.passes)
        if self.pairs < 1:
            raise ConfigError("pairs", "an integer >= 1", self.pairs)
        if not self.seeds:
            raise ConfigError("seeds", "at least one seed", self.seeds)


def usable(table: Table, config: EvaluateConfig) -> Table:
    """The rows a question is asked about: labelled non-optimal, wide enough."""
    shape = SHAPES[config.question]
    min_width = shape.min_width if config.min_width < 0 else config.min_width
    labels = np.asarray(table[shape.label]).astype(str)
    keep = (labels != "optimal") & (np.asarray(table["width"], dtype=float) >= min_width)
    return select(table, keep)


def fitting_rows(table: Table, config: EvaluateConfig, seed: int) -> Table:
    """The training collection's rows a protocol fits on, for one seed."""
    if config.protocol == "scale-data":
        amount = columns(table, ["data_amount"], "scale-data protocol")[:, 0]
        return select(table, amount <= config.max_data)
    if config.protocol == "scale-params":
        amount = columns(table, ["para_amount"], "scale-params protocol")[:, 0]
        return select(table, amount <= config.max_params)
    pairs = sorted(set(zip(table["data"].tolist(), table["width"].tolist(), strict=True)))
    rng = np.random.default_rng(seed)
    chosen = {pairs[i] for i in rng.permutation(len(pairs))[: config.pairs]}
    keep = np.array([p in chosen for p in zip(table["data"], table["width"], strict=True)])
    return select(table, keep)


def md_tree(config: EvaluateConfig) -> MDTree:
    """The unfitted MD tree a config describes."""
    return MDTree(config.question, config.search, config.bounds, config.passes)


def evaluate(train: Table, test: Table, config: EvaluateConfig) -> dict[str, dict]:
    """Mean (and per-seed) test accuracy of the MD tree and the three baseline trees.

    Returns {method: {"mean": float, "per_seed": [...], "fit_rows": [...]}}.
    """
    train, test = usable(train, config), usable(test, config)
    if len(test[SHAPES[config.question].label]) == 0:
        raise ConfigError("--test", "a table with non-optimal rows for this question", 0)
    label = SHAPES[config.question].label
    scores: dict[str, list[float]] = {m: [] for m in METHODS}
    sizes = []
    for seed in config.seeds:
        fit = fitting_rows(train, config, seed)
        if len(fit[label]) == 0:
            raise ConfigError(
                "--protocol", "a protocol that leaves rows to fit on", config.protocol,
                "Raise --max-data / --max-params",
            )  # fmt: skip
        sizes.append(len(fit[label]))
        scores["md"].append(md_tree(config).fit(fit).score(test))
        for features in METHODS[1:]:
            tree = BaselineTree(features, label, seed).fit(fit)
            scores[features].append(tree.score(test))
    return {
        m: {
            "mean": float(np.mean(v)),
            "per_seed": v,
            "fit_rows": sizes,
            "test_rows": len(test[label]),
        }
        for m, v in scores.items()
    }


def format_results(results: dict[str, dict], config: EvaluateConfig) -> str:
    """A plain-text table: method, mean accuracy (%), per-seed accuracies."""
    lines = [
        f"question {config.question}, protocol {config.protocol}, "
        f"fit on {np.mean(results['md']['fit_rows']):.0f} rows (mean), "
        f"tested on {results['md']['test_rows']} rows",
        f"{'method':<16}{'accuracy %':>11}  per seed",
    ]
    names = {"md": "MD tree", "validation": "validation tree", "hyperparameter": "hyperparam tree",
             "landscape": "landscape tree"}  # fmt: skip
    for m, r in results.items():
        per = " ".join(f"{100 * s:.1f}" for s in r["per_seed"])
        lines.append(f"{names[m]:<16}{100 * r['mean']:>11.2f}  {per}")
    return "\n".join(lines)
