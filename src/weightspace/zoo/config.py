"""The typed configuration of a zoo: architecture, dataset, generating factors, training.

A generating factor is one value, a grid of values (every combination is trained), or a random
draw per model. In a JSON/TOML config file:

    lr = 1e-3                         # fixed
    lr = [1e-3, 1e-4]                 # grid
    lr = {loguniform = [1e-4, 1e-2]}  # random draw per model (also: uniform, choice)

Light: the standard library and the names of `weightspace.zoo.names` only (numpy and the torch
code of the members load inside `ZooConfig.members`), so ``zoo create --help`` reads the flags
of `ZooConfig` without importing torch.
"""

from __future__ import annotations

import functools
import itertools
import math
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightspace.config import coerce, read_config_file
from weightspace.errors import ConfigError, check_choice
from weightspace.zoo.names import (
    ACTIVATION_NAMES,
    ARCHITECTURE_NAMES,
    DATASET_NAMES,
    FILE_DATASETS,
    INITS,
    OPTIMIZERS,
    PARK_DEFAULTS,
    PARK_POOLS,
    PARK_STAGES,
    PARK_WIDTHS,
    USER_DATASETS,
)

if TYPE_CHECKING:
    import numpy as np

    from weightspace.zoo.members import ModelSpec


@dataclass(frozen=True)
class DatasetConfig:
    """Which data a zoo trains on and how it is split.

    ``root`` is the folder of the files for the file-based datasets. Datasets without an official
    test split (digits, tetris, mnist5k) are split ``1 - val - test / val / test``, seeded by
    ``split_seed``; the others carve the validation split out of their training files.
    ``train_fraction`` keeps a seeded subset of the training split (the NeurIPS 2021 zoos vary
    it). ``label_noise`` replaces that share of the
    training labels by a different class, drawn with ``split_seed`` (validation and test labels
    stay clean), as in the 10 % label-noise collection of Zhou et al. 2024.

    The user's own data: ``npz`` (``root`` = an .npz file with x_train, y_train, x_test, y_test
    and optionally x_val, y_val) and ``imagefolder`` (``root`` = a folder of class folders, or
    of train/ [val/] test/ folders of class folders).

    The input the networks see is part of the task: pixels are first scaled to [0, 1] (uint8 /
    255; float arrays are taken as they are), ``grayscale`` averages the colour channels (as the
    Small CNN Zoo made CIFAR10-GS and SVHN-GS), then ``transform``: ``standardize`` (default:
    each channel by the training split's mean and std, as our zoos are trained), ``unit`` (the
    [0, 1] pixels unchanged) or ``meanstd`` (the given per-channel ``mean`` and ``std``, e.g. the
    normalization a network was trained with elsewhere).

    Loading: `weightspace.zoo.datasets.load_dataset`.
    """

    name: str = "digits"
    root: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    train_fraction: float = 1.0
    label_noise: float = 0.0
    split_seed: int = 0
    tetris_samples: int = 1000
    # added later: `to_dict` leaves these out at their defaults, so older zoos read the same
    transform: str = "standardize"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    grayscale: bool = False

    def __post_init__(self) -> None:
        hints = _dataset_field_types()
        for f in fields(self):  # `split_seed = "1"` or `tetris_samples = true` is an error
            object.__setattr__(
                self, f.name, coerce(f"dataset.{f.name}", hints[f.name], getattr(self, f.name))
            )
        check_choice("dataset", self.name, DATASET_NAMES)
        for name, low in (("split_seed", 0), ("tetris_samples", 10)):
            if getattr(self, name) < low:
                raise ConfigError(f"dataset.{name}", f"an integer >= {low}", getattr(self, name))
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ConfigError(name, "a fraction in (0, 0.5)", value)
        if not 0.0 < self.train_fraction <= 1.0:
            raise ConfigError("train_fraction", "a fraction in (0, 1]", self.train_fraction)
        if not 0.0 <= self.label_noise < 1.0:
            raise ConfigError("label_noise", "a share in [0, 1)", self.label_noise)
        if self.name in FILE_DATASETS and self.root is None:
            raise ConfigError(
                "dataset.root",
                f"the folder holding the {self.name} files",
                None,
                f"Set root to a local folder with {FILE_DATASETS[self.name]}.",
            )
        if self.name in USER_DATASETS and self.root is None:
            raise ConfigError(
                "dataset.root",
                USER_DATASETS[self.name],
                None,
                "Set root (--data-root) to your data",
            )
        self._check_transform()

    def _check_transform(self) -> None:
        check_choice("dataset.transform", self.transform, TRANSFORMS)
        given = bool(self.mean or self.std)
        if (self.transform == "meanstd") != given:
            raise ConfigError(
                "dataset.mean/std",
                "per-channel mean and std exactly when transform is meanstd",
                {"transform": self.transform, "mean": self.mean, "std": self.std},
                "Give both with transform = 'meanstd', or neither",
            )
        if given and (
            len(self.mean) != len(self.std)
            or not all(math.isfinite(v) for v in (*self.mean, *self.std))
            or min(self.std) <= 0
        ):
            raise ConfigError(
                "dataset.mean/std",
                "finite per-channel values of one length, std > 0",
                {"mean": self.mean, "std": self.std},
            )

    def to_dict(self) -> dict:
        out = asdict(self)
        for name, default in LATER_DEFAULTS.items():  # older manifests lack them
            if out[name] == default:
                del out[name]
            elif isinstance(out[name], tuple):
                out[name] = list(out[name])
        return out


TRANSFORMS = ("standardize", "unit", "meanstd")
LATER_DEFAULTS = {"transform": "standardize", "mean": (), "std": (), "grayscale": False}


@functools.cache
def _dataset_field_types() -> dict:
    return typing.get_type_hints(DatasetConfig)


def check_park_knobs(
    name: str, hidden: tuple[int, ...], kernel: int, residual: bool, pool: str
) -> None:
    """Validate the park-cnn knobs; any other architecture must leave them at the defaults."""
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise ConfigError("kernel", "an odd integer >= 1 ('same' padding)", kernel)
    if not isinstance(residual, bool):
        raise ConfigError("residual", "true or false", residual)
    check_choice("pool", pool, PARK_POOLS)
    if name != "park-cnn":
        given = {"kernel": kernel, "residual": residual, "pool": pool}
        for knob, default in PARK_DEFAULTS.items():
            if given[knob] != default:
                raise ConfigError(
                    knob,
                    f"the default {default!r} for architecture {name!r}",
                    given[knob],
                    "kernel, residual and pool are knobs of architecture 'park-cnn' only",
                )
        return
    low, high = PARK_STAGES
    if hidden and not low <= len(hidden) <= high:
        raise ConfigError("hidden", f"{low} to {high} conv stage widths", list(hidden))
    if residual and len(hidden or PARK_WIDTHS) < 3:
        raise ConfigError(
            "residual",
            "false for fewer than 3 stages (the skip joins non-adjacent stages)",
            residual,
        )


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
        check_choice("architecture", self.architecture, ARCHITECTURE_NAMES)
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
        allowed = {"activation": ACTIVATION_NAMES, "init": INITS, "optimizer": OPTIMIZERS}
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
        import numpy as np

        from weightspace.zoo.architectures import ArchConfig
        from weightspace.zoo.members import ModelSpec

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
