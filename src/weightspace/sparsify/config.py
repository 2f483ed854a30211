"""The settings of `weightspace zoo sparsify`: one frozen, validated config."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from weightspace.errors import ConfigError, check_choice

METHODS = ("magnitude", "vd")
SCOPES = ("global", "layer")
SCHEDULES = ("oneshot", "gradual")
KL_OBJECTIVES = ("twins", "elbo")
# the published magnitude-pruning grid (Honegger et al. 2023), as shares of the weights
DEFAULT_SPARSITY = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


@dataclass(frozen=True)
class SparsifyConfig:
    """How every model of a zoo is sparsified into its twin.

    Magnitude pruning zeroes the smallest conv/linear weights (over all of them, or per layer),
    then fine-tunes with the mask held fixed, using each model's own optimizer and learning
    rate. Variational dropout (Molchanov et al. 2017) learns a noise level per weight and zeroes
    the weights whose log alpha reaches ``threshold``.

    The VD objective per training step, with w = ``kl_weight(epoch)`` (the twins paper's ramp
    ``min(1, kl_scale * epoch / kl_ramp)``) and KL the summed KL of every sparsified weight:

    - ``kl_objective="twins"`` (default): mean CE + w * KL, the KL added to each batch's *mean*
      cross-entropy undivided -- the objective of the sparsified twins' released training code
      (Honegger et al. 2023), with which their published sparsities were measured; a prior
      N_train times stronger than the ELBO's at the same w;
    - ``kl_objective="elbo"``: mean CE + w * KL / N_train, Molchanov et al.'s SGVB objective
      N * E[log p(y | x, w)] - w * KL divided by the training-set size N_train, so the prior
      weighs the same per example whatever the data set's size (with the twins' ramp ending at
      w = 0.01 it barely sparsifies; ``kl_scale=1`` ramps to the full KL).

    Example:
        >>> SparsifyConfig(method="magnitude", sparsity=(0.5, 0.9), scope="layer")
    """

    method: Literal["magnitude", "vd"] = field(
        default="magnitude", metadata={"help": "magnitude pruning or variational dropout"}
    )
    sparsity: tuple[float, ...] = field(
        default=DEFAULT_SPARSITY,
        metadata={"help": "magnitude: the shares of conv/linear weights to zero, each in (0, 1)"},
    )
    scope: Literal["global", "layer"] = field(
        default="global", metadata={"help": "magnitude: rank weights over all layers or per layer"}
    )
    schedule: Literal["oneshot", "gradual"] = field(
        default="oneshot",
        metadata={"help": "magnitude: prune once, or a cubic ramp over the fine-tuning epochs"},
    )
    finetune_epochs: int = field(
        default=3, metadata={"help": "magnitude: epochs of fine-tuning with the masks fixed"}
    )
    vd_epochs: int = field(default=25, metadata={"help": "vd: epochs, a checkpoint after each"})
    vd_lr: float = field(default=3e-4, metadata={"help": "vd: Adam learning rate"})
    log_sigma2_init: float = field(default=-10.0, metadata={"help": "vd: initial log sigma^2"})
    threshold: float = field(
        default=3.0, metadata={"help": "vd: weights with log alpha >= this are zeroed"}
    )
    kl_scale: float = field(
        default=0.01, metadata={"help": "vd: KL weight = min(1, kl_scale * epoch / kl_ramp)"}
    )
    kl_ramp: int = field(default=25, metadata={"help": "vd: epochs of the KL-weight ramp"})
    kl_objective: Literal["twins", "elbo"] = field(
        default="twins",
        metadata={
            "help": "vd: twins: mean CE + KL weight * KL (the sparsified twins' code, their "
            "published sparsities); elbo: mean CE + KL weight * KL / N_train (Molchanov et al.'s "
            "ELBO per example)"
        },
    )
    epoch: int | None = field(
        default=None,
        metadata={"help": "the original checkpoint to sparsify; unset: each model's last"},
    )
    models: int | None = field(
        default=None, metadata={"help": "sparsify only the first N models; unset: all"}
    )
    population: int = field(
        default=128, metadata={"help": "models trained at once (one resumable shard)"}
    )
    # what a zoo without its own training config (an imported one) does not say
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "training batch size of the twins (unset: the zoo's own; required "
            "for an imported zoo)"
        },
    )
    optimizer: str | None = field(
        default=None,
        metadata={
            "help": "magnitude: fine-tuning optimizer of models whose zoo has no "
            "optimizer column (adam or sgd)"
        },
    )
    lr: float | None = field(
        default=None,
        metadata={
            "help": "magnitude: fine-tuning learning rate of models whose zoo has no lr column"
        },
    )
    device: Literal["cpu", "cuda"] = field(default="cpu", metadata={"help": "cpu or cuda"})

    def __post_init__(self) -> None:
        check_choice("method", self.method, METHODS)
        check_choice("scope", self.scope, SCOPES)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("kl_objective", self.kl_objective, KL_OBJECTIVES)
        check_choice("device", self.device, ("cpu", "cuda"))
        levels = tuple(self.sparsity)
        if not levels or any(
            isinstance(s, bool) or not isinstance(s, (int, float)) or not 0.0 < s < 1.0
            for s in levels
        ):
            raise ConfigError(
                "sparsity",
                "one or more shares strictly between 0 and 1",
                list(levels),
                "Give shares of weights to zero, e.g. --sparsity 0.5 0.9 (not percent)",
            )
        object.__setattr__(self, "sparsity", tuple(sorted({float(s) for s in levels})))
        minimum = 1 if self.schedule == "gradual" else 0
        for name, low in (
            ("finetune_epochs", minimum),
            ("vd_epochs", 1),
            ("kl_ramp", 1),
            ("population", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(name, f"an integer >= {low}", value)
        for name in ("models", "epoch"):
            value = getattr(self, name)
            low = 1 if name == "models" else 0
            if value is not None and (not isinstance(value, int) or value < low):
                raise ConfigError(name, f"an integer >= {low} or unset", value)
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool)
            or not isinstance(self.batch_size, int)
            or self.batch_size < 1
        ):
            raise ConfigError("batch_size", "an integer >= 1 or unset", self.batch_size)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        if self.lr is not None and not (
            isinstance(self.lr, (int, float)) and 0 < self.lr < math.inf
        ):
            raise ConfigError("lr", "a finite learning rate > 0, or unset", self.lr)
        if not self.vd_lr > 0 or not self.kl_scale >= 0:
            raise ConfigError("vd_lr / kl_scale", "vd_lr > 0 and kl_scale >= 0", self.vd_lr)

    def kl_weight(self, epoch: int) -> float:
        """The KL weight while training sparsification epoch ``epoch`` (1-based)."""
        return min(1.0, self.kl_scale * epoch / self.kl_ramp)

    def kl_factor(self, epoch: int, train_size: int) -> float:
        """The factor of the summed KL added to a batch's mean cross-entropy while training
        epoch ``epoch`` on ``train_size`` examples: ``kl_weight(epoch) / train_size`` for the
        ELBO, ``kl_weight(epoch)`` for the twins' objective."""
        if self.kl_objective == "elbo":
            if train_size < 1:
                raise ConfigError("train_size", "at least one training example", train_size)
            return self.kl_weight(epoch) / train_size
        return self.kl_weight(epoch)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["sparsity"] = list(self.sparsity)
        return out
