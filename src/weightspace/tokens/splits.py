"""Splits of a zoo's models into train / val / test, plain or grouped, and the `Split` object that
an encoder, its probes and its samples share.

Splits are by *model* (every checkpoint of a model in one split). In a fixed-seed grid, models
that share a seed and an initialization start from identical weights and see the data in the
same order: they are siblings, and a split that puts one in training and another in test leaks.
A *grouped* split keeps every model of a group (same values of ``group_by``, by default seed
and init) together. ``group_by=()`` is the plain split by model id.

A `Split` is a `SplitConfig` resolved on one zoo: the model ids of each part. It is saved with
an encoder (``split.json``); probes and generation read it from there, and any other split is
an error (`check_same_split`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weightspace.errors import ConfigError, check_choice
from weightspace.tokens.config import SIBLINGS, SplitConfig

SPLITS = ("train", "val", "test")
USABLE = ("ok", "diverged")  # a diverged model keeps its finite checkpoints
SPLIT_FILE = "split.json"


DEFAULT = SplitConfig()
PLAIN = SplitConfig(group_by=())


def split_models(
    model_ids: np.ndarray,
    config: SplitConfig = DEFAULT,
    groups: np.ndarray | None = None,
) -> dict[str, set]:
    """{split: set of model ids}; every model in exactly one split, stable for a given seed.

    ``groups`` (one key per entry of ``model_ids``) keeps the models of a group together; without
    it every model is its own group. A split with a non-zero share gets at least one group.
    """
    ids, first = np.unique(np.asarray(model_ids), return_index=True)
    if groups is None:
        unit = np.arange(len(ids))
    else:
        unit = np.unique(np.asarray(groups)[first], return_inverse=True)[1].reshape(-1)
    n_units = int(unit.max()) + 1 if len(unit) else 0
    order = np.random.default_rng(config.seed).permutation(n_units)
    part_of_unit = np.empty(n_units, dtype=int)
    for part, chunk in enumerate(
        np.split(order, np.cumsum(_counts(n_units, config.fractions))[:2])
    ):
        part_of_unit[chunk] = part
    part = part_of_unit[unit]
    return {name: set(ids[part == p].tolist()) for p, name in enumerate(SPLITS)}


def _counts(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Units per split: rounded shares, each non-zero share given at least one unit if n allows."""
    shares = np.asarray(fractions, dtype=float) / sum(fractions)
    cuts = np.round(np.cumsum(shares) * n).astype(int)
    counts = np.diff(np.concatenate([[0], cuts]))
    wanted = shares > 0
    if n >= wanted.sum():
        for i in np.flatnonzero(wanted & (counts == 0)):
            counts[i] += 1
            counts[np.argmax(counts)] -= 1
    return counts


@dataclass(frozen=True)
class Split:
    """A split resolved on one zoo: ``models[part]`` holds model ids; ``grouped_by`` the factors
    actually used (the zoo's columns among ``config.group_by``; ``()`` = by model)."""

    config: SplitConfig
    zoo: str
    models: dict[str, tuple[int, ...]]
    grouped_by: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "grouped by " + ", ".join(self.grouped_by) if self.grouped_by else "plain"

    def rows(self, zoo, part: str, epochs: Sequence[int] | None = None) -> np.ndarray:  # noqa: ANN001
        """Row indices of ``zoo`` in ``part`` (usable checkpoints; optionally only ``epochs``)."""
        check_choice("split", part, SPLITS)
        keep = np.isin(zoo.column("model_id"), list(self.models[part]))
        if "status" in zoo.table.column_names:  # rows an importer marked bad hold no weights
            keep &= np.isin(zoo.column("status"), USABLE)
        if epochs is not None:
            keep &= np.isin(zoo.column("epoch"), list(epochs))
        return np.flatnonzero(keep)

    def to_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "zoo": self.zoo,
            "models": {k: list(v) for k, v in self.models.items()},
            "grouped_by": list(self.grouped_by),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Split:
        return cls(
            SplitConfig.from_dict(raw["config"]),
            str(raw["zoo"]),
            {k: tuple(int(i) for i in raw["models"][k]) for k in SPLITS},
            tuple(raw["grouped_by"]),
        )

    def save(self, directory: str | Path) -> None:
        from weightspace.zoo.storage import atomic_write_json

        atomic_write_json(Path(directory) / SPLIT_FILE, self.to_dict())

    @classmethod
    def load(cls, directory: str | Path) -> Split | None:
        """The split saved in ``directory``, or None where there is none (older encoders)."""
        from weightspace.zoo.storage import read_json

        path = Path(directory) / SPLIT_FILE
        if not path.exists():
            return None
        return cls.from_dict(read_json(path, "split", "Refit the encoder with `weightspace fit`"))


def resolve_split(zoo, config: SplitConfig | Split = DEFAULT) -> Split:  # noqa: ANN001
    """``config`` resolved on ``zoo`` (a `Split` is returned as it is).

    A zoo with fewer groups than parts to fill falls back to the plain split, with a warning,
    and the returned split says so (``grouped_by == ()``).
    """
    if isinstance(config, Split):
        return config
    model_ids = zoo.column("model_id")
    factors = tuple(f for f in config.group_by if f in zoo.table.column_names)
    groups = None
    if factors:
        groups = group_keys(zoo, factors)
        needed = int((np.asarray(config.fractions) > 0).sum())
        if len(np.unique(groups)) < needed:
            warnings.warn(
                f"zoo {zoo.name!r} has {len(np.unique(groups))} groups of models sharing "
                f"{', '.join(factors)}: too few for {needed} splits; splitting by model (plain), "
                "so siblings may straddle the splits",
                stacklevel=2,
            )
            factors, groups = (), None
    parts = split_models(model_ids, config, groups)
    models = {k: tuple(sorted(int(i) for i in v)) for k, v in parts.items()}
    return Split(config, zoo.name, models, factors)


def group_keys(zoo, factors: Sequence[str]) -> np.ndarray:  # noqa: ANN001
    """One string key per row: the row's values of ``factors``."""
    columns = [np.asarray(zoo.column(f)).astype(str) for f in factors]
    return np.array(["\x1f".join(values) for values in zip(*columns, strict=True)])


def check_part_sizes(
    counts: dict[str, int], minimum: dict[str, int], kind: str, action: str
) -> None:
    """Raise ConfigError when a part of a split holds fewer models than ``minimum`` asks for
    ``action`` (e.g. "to probe"); ``counts`` is the models per part, ``kind`` the split's."""
    short = {s: n for s, n in counts.items() if n < minimum.get(s, 0)}
    if short:
        wanted = ", ".join(f"{s} >= {n}" for s, n in minimum.items())
        raise ConfigError(
            "zoo",
            f"enough models in each part of the {kind} split {action} ({wanted})",
            counts,
            fix="Use a zoo with more models (or more groups of models sharing seed and init), "
            "or change the split's fractions",
        )


def unit_keys(zoo, split: Split, rows: np.ndarray) -> tuple[np.ndarray, str]:  # noqa: ANN001
    """The independent unit of each of ``rows`` under ``split`` and the unit's name: the group
    (the row's values of ``split.grouped_by``) on a grouped split whose groups hold several
    models, the model otherwise (a plain split, or a zoo of random seeds where every group is
    one model). An interval resamples these units, never the rows of one of them."""
    rows = np.asarray(rows, dtype=int)
    models = np.asarray(zoo.column("model_id"))[rows].astype(str)
    if split.grouped_by:
        groups = group_keys(zoo, split.grouped_by)[rows]
        if len(np.unique(groups)) < len(np.unique(models)):  # else every group is one model
            return groups, "group"
    return models, "model"


def siblings_across(zoo, split: Split, factors: Sequence[str] = SIBLINGS) -> list[tuple[int, int]]:  # noqa: ANN001
    """(train model, test model) pairs that share every one of ``factors``: the leaks of a split.

    Empty for a split grouped by (a superset of) ``factors``; the plain split of a fixed-seed
    grid has many.
    """
    factors = [f for f in factors if f in zoo.table.column_names]
    if not factors:
        return []
    keys = group_keys(zoo, factors)
    model_ids = zoo.column("model_id")
    key_of = dict(zip(model_ids.tolist(), keys.tolist(), strict=True))
    train: dict[str, list[int]] = {}
    for m in split.models["train"]:
        train.setdefault(key_of[m], []).append(m)
    return [(a, b) for b in split.models["test"] for a in train.get(key_of[b], [])]


def check_same_split(expected: Split, got: Split, what: str) -> None:
    """Raise ConfigError unless ``got`` holds the same models in each part as ``expected``."""
    if expected.models != got.models:
        raise ConfigError(
            "split",
            f"the split {what} was trained on ({expected.kind}, seed {expected.config.seed})",
            f"{got.kind}, seed {got.config.seed}",
            fix="Probe and sample with the encoder's own split (the default), or refit the "
            "encoder with the split you want",
        )


def encoder_split(encoder, zoo) -> Split:  # noqa: ANN001
    """The split ``encoder`` was trained on; for another zoo, its split setting resolved there
    (none of that zoo's models were seen in training)."""
    split = getattr(encoder, "split_", None)
    if split is not None and split.zoo == zoo.name:
        return split
    pool = getattr(encoder, "pool_", None)  # fitted on several zoos: each kept its own split
    if pool is not None and pool.split_of(zoo) is not None:
        return pool.split_of(zoo)
    return resolve_split(zoo, encoder.train_config_.splits)
