"""Features of checkpoints for probing, all with ``fit(zoo, rows)`` / ``transform(zoo, rows)``.

- `FlatWeights` (W): the flat weight vector.
- `WeightStatistics` (s(W)): per tensor (weights and biases apart, BatchNorm vectors too):
  mean, variance and the 1/25/50/75/99 % quantiles (Schürholt et al., NeurIPS 2021).
- `WeightWatcherFeatures`: per-layer spectral metrics of the ``weightwatcher`` package
  (the optional extra ``weightspace[weightwatcher]``).
- `EncoderFeatures`: the embeddings of a trained hyper-representation.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import numpy as np
import torch

from weightspace.encoders import HyperRepresentation
from weightspace.errors import ConfigError, NotFittedError
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
            out.append(frame[list(WW_METRICS)].to_numpy(dtype=float).reshape(-1))
        width = max((len(o) for o in out), default=0)
        return np.stack([np.pad(o, (0, width - len(o)), constant_values=np.nan) for o in out])


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
