"""The typed configuration of a zoo: architecture, dataset, generating factors, training.

A generating factor is one value, a grid of values (every combination is trained), or a random
draw per model. In a JSON/TOML config file:

    lr = 1e-3                         # fixed
    lr = [1e-3, 1e-4]                 # grid
    lr = {loguniform = [1e-4, 1e-2]}  # random draw per model (also: uniform, choice)
"""

from __future__ import annotations

import functools
import itertools
import math
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from weightspace.config import coerce, read_config_file
from weightspace.errors import ConfigError, check_choice
from weightspace.zoo.architectures import (
    ARCHITECTURES,
    PARK_DEFAULTS,
    ArchConfig,
    check_park_knobs,
)
from weightspace.zoo.datasets import DatasetConfig
from weightspace.zoo.layers import ACTIVATIONS, INITS
from weightspace.zoo.members import ModelSpec
from weightspace.zoo.optim import OPTIMIZERS

DISTRIBUTIONS = ("grid", "choice", "uniform", "loguniform")


@dataclass(frozen=True)
class Factor:
    """A generating factor: ``grid`` values (one value = fixed) or a per-model random draw."""

    values: tuple = ()
    distribution: str = "grid"

    def __post_init__(self) -> None:
        _check_factor("factor", self.values, self.distribution)
        object.__setattr__(self, "values", tuple(self.values))

    @classmethod
    def parse(cls, name: str, raw: Any) -> Factor:
        """Factor ``name`` from a config file value (scalar, list or {distribution: values})."""
        if isinstance(raw, Factor):
            return raw
        if isinstance(raw, dict):
            if len(raw) != 1 or next(iter(raw)) not in DISTRIBUTIONS:
                raise ConfigError(
                    name, f"a value, a list, or one of {{{', '.join(DISTRIBUTIONS)}: [...]}}", raw
                )
            ((distribution, values),) = raw.items()
        elif isinstance(raw, (list, tuple)):
            distribution, values = "grid", raw
        else:
            distribution, values = "grid", (raw,)
        _check_factor(name, values, distribution)  # named here: the class does not know its name
        return cls(tuple(values), distribution)

    def grid(self) -> tuple:
        return self.values if self.distribution == "grid" else (None,)

    def draw(self, rng: np.random.Generator) -> Any:
        if self.distribution == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        low, high = self.values
        if self.distribution == "uniform":
            return float(rng.uniform(low, high))
        return float(math.exp(rng.uniform(math.log(low), math.log(high))))

    def to_json(self) -> Any:
        if self.distribution == "grid":
            return self.values[0] if len(self.values) == 1 else list(self.values)
        return {self.distribution: list(self.values)}


def _check_factor(name: str, values: Any, distribution: str) -> None:
    """A factor's values fit its distribution: a non-empty list; [low, high] with low < high for
    the continuous ones (low > 0 for loguniform)."""
    check_choice(f"{name} distribution", distribution, DISTRIBUTIONS)
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(name, "a value or a non-empty list of values", values)
    try:
        hash(tuple(values))
    except TypeError:
        raise ConfigError(name, "plain values (numbers or strings)", list(values)) from None
    if distribution not in ("uniform", "loguniform"):
        return
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if len(values) != 2 or not numbers or not all(map(math.isfinite, values)):
        raise ConfigError(name, f"{{{distribution} = [low, high]}} of two numbers", list(values))
    low, high = values
    if not low < high:
        raise ConfigError(
            name, f"{distribution} [low, high] with low < high", list(values), "Swap the two"
        )
    if distribution == "loguniform" and low <= 0:
        raise ConfigError(name, "loguniform bounds > 0", list(values))


FACTORS = ("activation", "dropout", "init", "optimizer", "lr", "weight_decay")


def _help(text: str) -> dict:
    return {"help": text}


def _fixed(value: Any) -> Factor:
    return field(default_factory=lambda: Factor((value,)))


@dataclass(frozen=True)
class ZooConfig:
    """Everything that defines a zoo; the same config and seed give the same zoo, bit for bit."""

    name: str = field(default="zoo", metadata=_help("the zoo's name"))
    architecture: str = field(default="cnn-s", metadata=_help("a registry architecture"))
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    hidden: tuple[int, ...] = field(
        default=(), metadata=_help("MLP hidden widths; park-cnn: channels of each conv stage")
    )
    kernel: int = field(default=3, metadata=_help("park-cnn: conv kernel size (odd)"))
    residual: bool = field(
        default=False, metadata=_help("park-cnn: add the first stage's output to the last's")
    )
    pool: str = field(
        default="gap", metadata=_help("park-cnn: gap, or max (a 2x2 max-pool after stage 1)")
    )
    activation: Factor = _fixed("tanh")
    dropout: Factor = _fixed(0.0)
    init: Factor = _fixed("uniform")
    optimizer: Factor = _fixed("adam")
    lr: Factor = _fixed(3e-4)
    weight_decay: Factor = _fixed(0.0)
    seeds: int = field(default=1, metadata=_help("models per combination of grid values"))
    random_seeds: bool = field(
        default=False, metadata=_help("draw model seeds from --seed (else 1..seeds)")
    )
    seed: int = field(default=0, metadata=_help("master seed: random seeds and factor draws"))
    epochs: int = field(default=10, metadata=_help("training epochs of every model"))
    batch_size: int = field(default=10, metadata=_help("training batch size of every model"))
    checkpoint_epochs: tuple[int, ...] | None = field(
        default=None, metadata=_help("epochs to keep a checkpoint of (default: all, 0 included)")
    )
    shard_size: int = field(
        default=64,
        metadata=_help(
            "models per population, trained together (the unit of resume and of scale-out)"
        ),
    )
    train_metrics: str = field(
        default="running",
        metadata=_help("running: epoch averages (as published zoos); full: re-evaluate"),
    )

    def __post_init__(self) -> None:
        hints = _field_types()
        for f in fields(self):  # types first: `seeds = true` or `epochs = "3"` is an error
            value = getattr(self, f.name)
            if f.name in FACTORS:
                value = value if isinstance(value, Factor) else Factor.parse(f.name, value)
            elif f.name == "dataset" and isinstance(value, str):
                value = DatasetConfig(value)
            else:
                value = coerce(f.name, hints[f.name], value)
            object.__setattr__(self, f.name, value)
        check_choice("architecture", self.architecture, tuple(ARCHITECTURES))
        check_choice("train_metrics", self.train_metrics, ("running", "full"))
        self._check_factor_values()
        for name, low in (("seeds", 1), ("batch_size", 1), ("shard_size", 1), ("epochs", 0)):
            if getattr(self, name) < low:
                raise ConfigError(name, f"an integer >= {low}", getattr(self, name))
        if self.seed < 0:
            raise ConfigError("seed", "an integer >= 0 (the zoo's master seed)", self.seed)
        if any(h < 1 for h in self.hidden):
            raise ConfigError("hidden", "layer widths >= 1", list(self.hidden))
        check_park_knobs(self.architecture, self.hidden, self.kernel, self.residual, self.pool)
        if self.checkpoint_epochs is not None:
            epochs = tuple(sorted(set(self.checkpoint_epochs)))
            if not epochs or epochs[0] < 0 or epochs[-1] > self.epochs:
                raise ConfigError(
                    "checkpoint_epochs",
                    f"epochs within 0..{self.epochs}",
                    list(self.checkpoint_epochs),
                )
            object.__setattr__(self, "checkpoint_epochs", epochs)

    def _check_factor_values(self) -> None:
        allowed = {"activation": ACTIVATIONS, "init": INITS, "optimizer": OPTIMIZERS}
        for name, choices in allowed.items():
            factor = getattr(self, name)
            if factor.distribution in ("uniform", "loguniform"):
                raise ConfigError(name, "a value, a list or {choice: [...]}", factor.to_json())
            for value in factor.values:
                check_choice(name, value, tuple(choices))
        for name, low, high in (
            ("dropout", 0.0, 1.0),
            ("lr", 0.0, math.inf),
            ("weight_decay", 0.0, math.inf),
        ):  # noqa: E501
            for value in getattr(self, name).values:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if not ok or not (low <= value < high) or (name == "lr" and value <= 0):
                    interval = f"({low}, {high})" if name == "lr" else f"[{low}, {high})"
                    raise ConfigError(name, f"a number in {interval}", value)

    @property
    def epochs_to_checkpoint(self) -> list[int]:
        if self.checkpoint_epochs is None:
            return list(range(self.epochs + 1))
        return list(self.checkpoint_epochs)

    def members(self, input_shape: tuple[int, int, int], num_classes: int) -> list[ModelSpec]:
        """Every model of the zoo, in model-id order: grid combinations x seeds."""
        rng = np.random.default_rng(self.seed)
        grids = [getattr(self, name).grid() for name in FACTORS]
        specs = []
        for combo in itertools.product(*grids):
            for s in range(self.seeds):
                values = dict(zip(FACTORS, combo, strict=True))
                for name in FACTORS:
                    if values[name] is None:
                        values[name] = getattr(self, name).draw(rng)
                seed = int(rng.integers(1, 2**31 - 1)) if self.random_seeds else s + 1
                arch = ArchConfig(
                    self.architecture,
                    input_shape,
                    num_classes,
                    values["activation"],
                    float(values["dropout"]),
                    values["init"],
                    self.hidden,
                    self.kernel,
                    self.residual,
                    self.pool,
                )
                specs.append(
                    ModelSpec(
                        len(specs),
                        seed,
                        arch,
                        values["optimizer"],
                        float(values["lr"]),
                        float(values["weight_decay"]),
                    )
                )
        return specs

    # --- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dataset"] = self.dataset.to_dict()  # settings added later left out at defaults
        for name in FACTORS:
            out[name] = getattr(self, name).to_json()
        out["hidden"] = list(self.hidden)
        for name, default in PARK_DEFAULTS.items():  # left out at defaults: old configs unchanged
            if out[name] == default:
                del out[name]
        if self.checkpoint_epochs is not None:
            out["checkpoint_epochs"] = list(self.checkpoint_epochs)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ZooConfig:
        """Build from a plain dict; an unknown key is an error, never silently ignored."""
        if not isinstance(raw, dict):
            raise ConfigError("zoo config", "a table of settings ({...})", type(raw).__name__)
        _reject_unknown("zoo config", raw, {f.name for f in fields(cls)})
        return cls(**raw)  # __post_init__ checks and converts every value

    @classmethod
    def from_file(cls, path: str | Path) -> ZooConfig:
        """Read a ``.json`` or ``.toml`` zoo config (suffix in any case)."""
        return cls.from_dict(read_config_file(path))

    def with_changes(self, **changes: Any) -> ZooConfig:
        """A copy with some fields changed; factors may be given as plain values or lists."""
        return replace(self, **changes)


@functools.cache
def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(ZooConfig)


def _reject_unknown(where: str, raw: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{where} key {unknown[0]!r}",
            f"one of {', '.join(sorted(known))}",
            unknown[0],
            "Check the spelling; unknown keys are never ignored",
        )
