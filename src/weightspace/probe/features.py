"""Features of checkpoints for probing, all with ``fit(zoo, rows)`` / ``transform(zoo, rows)``.

- `FlatWeights` (W): the flat weight vector.
- `WeightStatistics` (s(W)): per tensor (weights and biases apart, BatchNorm vectors too):
  mean, variance and the 1/25/50/75/99 % quantiles (Schürholt et al., NeurIPS 2021).
- `WeightWatcherFeatures`: per-layer spectral metrics of the ``weightwatcher`` package
  (the optional extra ``weightspace[weightwatcher]``).
- `EncoderFeatures`: the embeddings of a trained hyper-representation.
- `CrossArchStatistics`: s(W) of fixed width for networks of any depth, over several zoos
  (``fit_many(parts)`` / ``transform_many(parts)``, the `ManyFeatures` protocol).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch

from weightspace.encoders import HyperRepresentation
from weightspace.errors import ConfigError, NotFittedError, check_choice
from weightspace.spec import WeightSpec
from weightspace.tokens.dataset import zoo_spec
from weightspace.tokens.splits import Split, SplitConfig, check_same_split, encoder_split
from weightspace.train.trainer import TrainConfig
from weightspace.zoo.architectures import build_model
from weightspace.zoo.reader import Zoo

QUANTILES = (0.01, 0.25, 0.5, 0.75, 0.99)
WW_METRICS = ("alpha", "alpha_weighted", "log_norm", "log_spectral_norm", "stable_rank", "entropy")


class Features(Protocol):
    name: str

    def fit(self, zoo: Zoo, rows: np.ndarray) -> Features: ...

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray: ...


Part = tuple[Zoo, np.ndarray]  # a zoo and row indices into it


class ManyFeatures(Protocol):
    """Features of checkpoints of several zoos (architectures) at once, of one fixed width."""

    name: str

    def fit_many(self, parts: Sequence[Part]) -> ManyFeatures: ...

    def transform_many(self, parts: Sequence[Part]) -> np.ndarray: ...


class FlatWeights:
    """W: every weight of the checkpoint, (n, P)."""

    name = "W"

    def fit(self, zoo: Zoo, rows: np.ndarray) -> FlatWeights:
        return self

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        parts = [flat.numpy() for _, flat in zoo.batches(rows)]
        return np.concatenate(parts) if parts else np.zeros((0, zoo_spec(zoo).num_params))


class WeightStatistics:
    """s(W): 7 statistics per tensor, (n, 7 * tensors)."""

    name = "s(W)"

    def fit(self, zoo: Zoo, rows: np.ndarray) -> WeightStatistics:
        return self

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        spec = zoo_spec(zoo)
        q = torch.tensor(QUANTILES, dtype=torch.float64)
        out = []
        for _, flat in zoo.batches(rows):
            stats = []
            for values in spec.unflatten(flat.double()).values():
                values = values.reshape(len(flat), -1)  # (b, numel)
                stats += [values.mean(1, keepdim=True), values.var(1, correction=0, keepdim=True)]
                stats.append(torch.quantile(values, q, dim=1).T)  # (b, 5)
            out.append(torch.cat(stats, 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, 7 * len(spec.tensors)))


class WeightWatcherFeatures:
    """Per-layer WeightWatcher metrics (alpha, norms, stable rank, entropy), NaNs imputed with
    the training mean of the column."""

    name = "WeightWatcher"

    def fit(self, zoo: Zoo, rows: np.ndarray) -> WeightWatcherFeatures:
        raw = self._raw(zoo, rows)
        self.fill_ = np.nanmean(raw, axis=0)
        self.fill_ = np.where(np.isfinite(self.fill_), self.fill_, 0.0)
        self._fitted = (zoo.root, np.asarray(rows).copy(), raw)  # spares a second analysis
        return self

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        if not hasattr(self, "fill_"):
            raise NotFittedError("WeightWatcherFeatures is not fitted yet; call fit() first.")
        root, fitted_rows, raw = self._fitted
        if root != zoo.root or not np.array_equal(fitted_rows, rows):
            raw = self._raw(zoo, rows)
        return np.where(np.isfinite(raw), raw, self.fill_)

    def _raw(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        out = [layers.reshape(-1) for layers in weightwatcher_layers(zoo, rows)]
        width = max((len(o) for o in out), default=0)
        return np.stack([np.pad(o, (0, width - len(o)), constant_values=np.nan) for o in out])


def weightwatcher_layers(zoo: Zoo, rows: np.ndarray) -> list[np.ndarray]:
    """The WeightWatcher metrics `WW_METRICS` of every analyzed layer, one (layers, metrics)
    array per row of ``rows``."""
    try:
        import weightwatcher
    except ImportError:
        raise ConfigError(
            "weightwatcher",
            "the weightwatcher package",
            "not installed",
            fix="pip install 'weightspace[weightwatcher]'",
        ) from None
    logging.getLogger("weightwatcher").setLevel(logging.ERROR)
    out = []
    for row in np.asarray(rows):
        net = build_model(zoo.arch(int(row)))
        net.load_state_dict(zoo.state_dict(int(row)))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = weightwatcher.WeightWatcher(model=net).analyze(min_evals=0)
        out.append(frame[list(WW_METRICS)].to_numpy(dtype=float).reshape(-1, len(WW_METRICS)))
    return out


class EncoderFeatures:
    """Embeddings of a hyper-representation: a fitted ``encoder`` (probed on the split it was
    trained on, and only there), or a ``factory`` (split setting -> unfitted encoder) that trains
    one per split, for repeated splits and for ablations."""

    def __init__(
        self,
        encoder: HyperRepresentation | None = None,
        name: str | None = None,
        pooling: str | None = None,
        factory: Callable[[SplitConfig], HyperRepresentation] | None = None,
    ) -> None:
        if (encoder is None) == (factory is None):
            raise ConfigError("EncoderFeatures", "exactly one of encoder or factory", None)
        self.encoder = encoder
        self.factory = factory
        self.name = name or type(encoder or self).__name__
        self.pooling = pooling

    def for_split(self, zoo: Zoo, split: Split) -> EncoderFeatures:
        """These features for probing on ``split``: the fitted encoder if it was trained on
        exactly that split (else ConfigError), or a new one the factory trains on it."""
        if self.factory is None:
            check_same_split(encoder_split(self.encoder, zoo), split, self.name)
            return self
        encoder = self.factory(split.config)
        encoder.train = replace(encoder.train or TrainConfig(), splits=split.config)
        return EncoderFeatures(encoder.fit(zoo), self.name, self.pooling)

    def fit(self, zoo: Zoo, rows: np.ndarray) -> EncoderFeatures:
        return self

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        if self.encoder is None:
            raise NotFittedError(f"{self.name}: call for_split(zoo, split) to train an encoder")
        return self.encoder.transform(zoo, rows, pooling=self.pooling)


STATISTIC_VARIANTS = ("summary", "padded")
_QUANTILE_LIMIT = 2**24  # torch.quantile refuses larger inputs


def weight_layers(spec: WeightSpec) -> list[tuple[str, str | None]]:
    """(weight key, bias key or None) of every weight layer of ``spec``, in state-dict order:
    the tensors whose key ends in ``weight`` and that have 2 or more dimensions (conv and linear
    kernels; BatchNorm scales are vectors and are left out), each with the ``bias`` of the same
    module where there is one. Works from the tensors alone, so imported specs qualify."""
    keys = set(spec.keys)
    out = []
    for t in spec.tensors:
        if t.key.endswith("weight") and len(t.shape) >= 2:
            bias = t.key[: -len("weight")] + "bias"
            out.append((t.key, bias if bias in keys else None))
    return out


def seven_statistics(values: torch.Tensor) -> torch.Tensor:
    """(b, n) -> (b, 7): mean, variance and the 1/25/50/75/99 % quantiles of each row (the
    statistics of s(W)); zeros for an empty set (n = 0)."""
    b, n = values.shape
    if n == 0:
        return values.new_zeros(b, 7)
    q = torch.tensor(QUANTILES, dtype=values.dtype)
    if n > _QUANTILE_LIMIT:  # one row is too large for torch.quantile: numpy, same definition
        quantiles = torch.from_numpy(np.quantile(values.numpy(), q.numpy(), axis=1).T.copy())
    else:
        step = max(1, _QUANTILE_LIMIT // n)
        quantiles = torch.cat(
            [torch.quantile(values[i : i + step], q, dim=1).T for i in range(0, b, step)]
        )
    moments = [values.mean(1, keepdim=True), values.var(1, correction=0, keepdim=True)]
    return torch.cat([*moments, quantiles], 1)


class CrossArchStatistics:
    """s(W) across architectures: one fixed-length vector for a network of any depth.

    Published s(W) (Schürholt et al., NeurIPS 2021) has 7 statistics per tensor, so its width
    depends on the architecture. ``variant="summary"`` (the default; our definition, since no
    paper defines one for SANE-style tables): the 7 statistics (`seven_statistics`) of (a) the
    first layer's weight, (b) the first layer's bias, (c) the last layer's weight, (d) the last
    layer's bias, (e) all weights pooled, (f) all biases pooled, (g) the hidden layers' weights
    pooled, then an indicator of hidden layers (0: (g) is zeros), the depth (number of weight
    layers, `weight_layers`) and log10 of the number of entries of the flat weight vector:
    52 columns. A missing bias gives zeros.
    ``variant="padded"``: the "dynamic StatNN" of Kofinas et al. (ICLR 2024) -- the 7 statistics
    of every layer's weight and bias in order, zero-padded to the largest depth seen in ``fit``,
    then the depth: 14 * depth + 1 columns; a deeper network in ``transform`` is an error.
    """

    def __init__(self, variant: str = "summary", name: str | None = None) -> None:
        check_choice("variant", variant, STATISTIC_VARIANTS)
        self.variant = variant
        self.name = name or ("s(W) across architectures" if variant == "summary" else "StatNN")

    def fit(self, zoo: Zoo, rows: np.ndarray) -> CrossArchStatistics:
        return self.fit_many([(zoo, rows)])

    def transform(self, zoo: Zoo, rows: np.ndarray) -> np.ndarray:
        return self.transform_many([(zoo, rows)])

    def fit_many(self, parts: Sequence[Part]) -> CrossArchStatistics:
        """Record the largest depth of the parts' architectures (the padded width)."""
        self.depth_ = max((len(weight_layers(zoo_spec(zoo))) for zoo, _ in parts), default=0)
        return self

    @property
    def width(self) -> int:
        """Columns of every vector: 52 (summary), 14 * fitted depth + 1 (padded)."""
        if self.variant == "summary":
            return 7 * 7 + 3
        if not hasattr(self, "depth_"):
            raise NotFittedError("CrossArchStatistics('padded') is not fitted; call fit_many()")
        return 14 * self.depth_ + 1

    def transform_many(self, parts: Sequence[Part]) -> np.ndarray:
        """(rows of all parts in order, `width`)."""
        out = [np.zeros((0, self.width))]
        for zoo, rows in parts:
            spec = zoo_spec(zoo)
            out += [self.vectors(spec, flat, zoo.name) for _, flat in zoo.batches(rows)]
        return np.concatenate(out)

    def vectors(self, spec: WeightSpec, flat: torch.Tensor, where: str = "weights") -> np.ndarray:
        """The features of flat weights (b, P) of networks with weight-space ``spec`` (any
        network, no zoo needed), (b, `width`); ``where`` names them in errors."""
        layers = weight_layers(spec)
        self.width  # noqa: B018 - NotFittedError for an unfitted padded variant
        if self.variant == "padded" and len(layers) > self.depth_:
            raise ConfigError(
                "zoo",
                f"networks of at most {self.depth_} weight layers (the deepest in fit)",
                f"{where}: {len(layers)} layers",
                fix="Fit on parts that include the deepest architecture",
            )
        state = spec.unflatten(flat.double().reshape(-1, spec.num_params))
        if self.variant == "summary":
            return _summary(state, layers, spec.num_params).numpy()
        return _padded(state, layers, self.depth_).numpy()


def _pooled(state: dict[str, torch.Tensor], keys: Sequence[str | None], b: int) -> torch.Tensor:
    """The 7 statistics of the tensors ``keys`` (None: absent) pooled, (b, 7)."""
    present = [state[k].reshape(b, -1) for k in keys if k is not None]
    values = torch.cat(present, 1) if present else torch.zeros(b, 0, dtype=torch.float64)
    return seven_statistics(values)


def _summary(state: dict, layers: list, num_params: int) -> torch.Tensor:
    b = len(next(iter(state.values())))
    weights, biases = [w for w, _ in layers], [c for _, c in layers]
    groups = [weights[:1], biases[:1], weights[-1:], biases[-1:], weights, biases, weights[1:-1]]
    stats = [_pooled(state, keys, b) for keys in groups]
    extra = torch.tensor([float(len(layers) > 2), len(layers), np.log10(num_params)])
    return torch.cat([*stats, extra.to(stats[0]).expand(b, -1)], 1)


def _padded(state: dict, layers: list, depth: int) -> torch.Tensor:
    b = len(next(iter(state.values())))
    stats = [_pooled(state, [key], b) for layer in layers for key in layer]
    stats.append(torch.zeros(b, 14 * (depth - len(layers)), dtype=torch.float64))
    return torch.cat([*stats, torch.full((b, 1), float(len(layers)), dtype=torch.float64)], 1)
