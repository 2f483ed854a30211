"""The configs of model diagnosis and the MD tree's fixed shapes: what the command line reads
(``weightspace diagnose grid | metrics | fit | evaluate | model --help``), apart from the
torch, numpy and scikit-learn code that runs them (`weightspace.diagnose.grid`, ``.metrics``,
``.connectivity``, ``.protocols``, ``.tree``, which import their config from here)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Literal

from weightspace.errors import ConfigError
from weightspace.zoo.config import DatasetConfig, ZooConfig


@dataclass(frozen=True)
class DiagnosisGridConfig:
    """A diagnosis grid of a width-scalable CNN ("cnn-w") trained with SGD."""

    name: str = "digits-md"
    dataset: str = field(default="digits", metadata={"help": "embedded data set (digits, tetris)"})
    widths: tuple[int, ...] = field(default=(2, 4, 8, 16), metadata={"help": "channels k"})
    batch_sizes: tuple[int, ...] = (16, 64, 256)
    data_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    seeds: int = field(default=2, metadata={"help": "models per cell (>= 2 for connectivity)"})
    epochs: int = 12
    lr: float = 0.05
    weight_decay: float = 5e-4
    label_noise: float = field(default=0.0, metadata={"help": "share of flipped train labels"})

    def __post_init__(self) -> None:
        for name in ("widths", "batch_sizes", "data_fractions"):
            if not getattr(self, name):
                raise ConfigError(name, "at least one value", getattr(self, name))
        if min(self.widths) < 1 or min(self.batch_sizes) < 1:
            raise ConfigError(
                "widths/batch_sizes", "integers >= 1", (self.widths, self.batch_sizes)
            )
        if self.seeds < 1 or self.epochs < 1:
            raise ConfigError("seeds/epochs", "integers >= 1", (self.seeds, self.epochs))
        self.cell_config(self.widths[0], self.batch_sizes[0], self.data_fractions[0])  # validates

    def cells(self) -> list[tuple[int, int, float]]:
        return list(itertools.product(self.widths, self.batch_sizes, self.data_fractions))

    def cell_config(self, width: int, batch_size: int, fraction: float) -> ZooConfig:
        """The zoo of one cell: its seeds differ, everything else is the cell's."""
        return ZooConfig(
            name=f"{self.name}-{cell_name(width, batch_size, fraction)}",
            architecture="cnn-w",
            dataset=DatasetConfig(
                self.dataset, train_fraction=fraction, label_noise=self.label_noise
            ),
            hidden=(width,),
            activation="relu",
            init="default",
            optimizer="sgd",
            lr=self.lr,
            weight_decay=self.weight_decay,
            seeds=self.seeds,
            epochs=self.epochs,
            batch_size=batch_size,
            checkpoint_epochs=(self.epochs,),
            shard_size=self.seeds,
            train_metrics="full",
        )

    def to_dict(self) -> dict:
        return asdict(self)


def cell_name(width: int, batch_size: int, fraction: float) -> str:
    return f"w{width}-bs{batch_size}-d{round(fraction * 100):03d}"


_BASE = DiagnosisGridConfig()
GRID_PRESETS = {
    "digits-md": _BASE,
    "digits-md-noisy": DiagnosisGridConfig(name="digits-md-noisy", label_noise=0.1),
    # a few seconds: for tests and a first look
    "digits-md-tiny": DiagnosisGridConfig(
        name="digits-md-tiny", widths=(2, 8), batch_sizes=(16, 256), data_fractions=(0.5, 1.0),
        seeds=2, epochs=3,
    ),
}  # fmt: skip


def grid_preset(name: str) -> DiagnosisGridConfig:
    if name not in GRID_PRESETS:
        raise ConfigError("--preset", f"one of {', '.join(GRID_PRESETS)}", name)
    return GRID_PRESETS[name]


@dataclass(frozen=True)
class CurveConfig:
    """How the curve between two seeds is fitted and read."""

    kind: Literal["bezier", "line"] = field(
        default="bezier", metadata={"help": "trained Bézier curve, or the straight line (cheaper)"}
    )
    epochs: int = field(default=10, metadata={"help": "epochs of training the bend"})
    batch_size: int = field(default=64, metadata={"help": "batch size of training the bend"})
    lr: float = field(default=0.01, metadata={"help": "SGD learning rate of the bend"})
    momentum: float = 0.9

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ConfigError("curve epochs", "an integer >= 0", self.epochs)
        if self.batch_size < 1:
            raise ConfigError("curve batch_size", "an integer >= 1", self.batch_size)
        if self.lr <= 0:
            raise ConfigError("curve lr", "a number > 0", self.lr)


@dataclass(frozen=True)
class MetricsConfig:
    """What `zoo_metrics` computes and how."""

    hessian_samples: int = field(
        default=200, metadata={"help": "training samples of the fixed Hessian batch"}
    )
    hessian_iters: int = field(default=100, metadata={"help": "max Hutchinson/power iterations"})
    hessian_tol: float = field(default=1e-3, metadata={"help": "relative stopping tolerance"})
    cka_samples: int = field(default=200, metadata={"help": "mixup inputs for CKA"})
    mixup_alpha: float = field(default=16.0, metadata={"help": "λ ~ Beta(alpha, alpha)"})
    curve: Literal["bezier", "line"] = field(
        default="bezier",
        metadata={
            "help": "mode connectivity by a trained Bézier curve, or the straight line "
            "(cheaper; a deviation from the published metric)"
        },
    )
    curve_epochs: int = field(default=10, metadata={"help": "epochs of training the bend"})
    curve_batch_size: int = 64
    curve_lr: float = 0.01
    batched: bool = field(
        default=True, metadata={"help": "all models of a zoo at once (torch.func) or one by one"}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("hessian_samples", "hessian_iters", "cka_samples"):
            if getattr(self, name) < 2:
                raise ConfigError(name, "an integer >= 2", getattr(self, name))
        if not self.hessian_tol >= 0:
            raise ConfigError("hessian_tol", "a number >= 0", self.hessian_tol)
        if self.mixup_alpha <= 0:
            raise ConfigError("mixup_alpha", "a number > 0", self.mixup_alpha)
        CurveConfig(self.curve, self.curve_epochs, self.curve_batch_size, self.curve_lr)

    @property
    def curve_config(self) -> CurveConfig:
        return CurveConfig(self.curve, self.curve_epochs, self.curve_batch_size, self.curve_lr)


@dataclass(frozen=True)
class EvaluateConfig:
    """Which question, which protocol, and the protocol's settings."""

    question: Literal["temperature", "temperature-cka", "width", "data"] = field(
        default="temperature", metadata={"help": "the failure to diagnose"}
    )
    protocol: Literal["dataset", "data-fractions", "scale-data", "scale-params"] = field(
        default="dataset", metadata={"help": "how the fitting rows are chosen"}
    )
    pairs: int = field(
        default=8,
        metadata={
            "help": "(data, width) pairs fitted on (dataset), drawn from every data fraction x "
            "width as the released code draws them (a pair absent from the table adds no rows)"
        },
    )
    fractions: int = field(
        default=1, metadata={"help": "data fractions fitted on (data-fractions)"}
    )
    max_data: float = field(default=5000, metadata={"help": "largest data amount (scale-data)"})
    max_params: float = field(default=11000, metadata={"help": "most parameters (scale-params)"})
    params_digits: int = field(
        default=3,
        metadata={
            "help": "scale-params compares parameter counts in millions rounded to this many "
            "decimals, as the paper's '0.011 M' (11,420 -> 0.011); -1: exact counts"
        },
    )
    hyperparameters: Literal["published", "both"] = field(
        default="published",
        metadata={
            "help": "hyperparameter tree features: the released scripts' (both for temperature, "
            "log data amount for width, log parameter count for data) or both for every question"
        },
    )
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
        if self.fractions < 1:
            raise ConfigError("fractions", "an integer >= 1", self.fractions)
        if not -1 <= self.params_digits <= 6:
            raise ConfigError("params_digits", "an integer from -1 to 6", self.params_digits)
        if not self.seeds:
            raise ConfigError("seeds", "at least one seed", self.seeds)
        if any(not 0 <= s < 2**32 for s in self.seeds):  # NumPy's legacy generator's range
            raise ConfigError("seeds", "integers from 0 to 2**32 - 1", self.seeds)


# ---- the MD tree's shapes (`weightspace.diagnose.tree`) --------------------
Node = str | tuple


@dataclass(frozen=True)
class Threshold:
    feature: str
    init: float
    low: float
    high: float


@dataclass(frozen=True)
class TreeShape:
    """A question's tree: its label column, thresholds and node structure."""

    question: str
    label: str
    thresholds: tuple[Threshold, ...]
    root: Node
    min_width: int = 0  # rows of narrower models are left out (the data question)


_TE, _HESS = (0.0, 1.0), (4.0, 9.0)
SHAPES = {
    # train_error <= t0 -> small; poorly connected -> (hessian_t <= t2 -> large else small)
    "temperature": TreeShape(
        "temperature", "bs_failure",
        (Threshold("train_error", 0.5, *_TE), Threshold("mode_connectivity_peak", -10, -30, 0),
         Threshold("hessian_t", 7, *_HESS)),
        (0, "small", (1, (2, "large", "small"), "large")),
    ),
    "temperature-cka": TreeShape(
        "temperature-cka", "bs_failure",
        (Threshold("train_error", 0.5, *_TE), Threshold("mode_connectivity_peak", -10, -30, 0),
         Threshold("CKA", 0.5, 0.2, 0.8)),
        (0, "small", (1, (2, "small", "large"), "large")),
    ),
    "width": TreeShape(
        "width", "width_vs_batch",
        (Threshold("train_error", 0.5, *_TE), Threshold("mode_connectivity_peak", -10, -30, 0),
         Threshold("mode_connectivity_peak", -10, -30, 0)),
        (0, (1, "width", "batch"), (2, "width", "batch")),
    ),
    "data": TreeShape(
        "data", "data_vs_batch",
        (Threshold("train_error", 0.5, *_TE), Threshold("mode_connectivity", -10, -30, 0),
         Threshold("hessian_t", 7, *_HESS), Threshold("mode_connectivity", -10, -30, 0),
         Threshold("hessian_t", 7, *_HESS), Threshold("hessian_t", 7, *_HESS)),
        (0, (1, (4, "data", "batch"), (2, "data", "batch")),
         (3, "batch", (5, "data", "batch"))),
        min_width=32,
    ),
}  # fmt: skip
