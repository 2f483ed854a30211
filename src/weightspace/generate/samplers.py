"""Samplers of new latents from the latents of anchor models (Schürholt et al., NeurIPS 2022;
SANE, ICML 2024).

All take anchor latents of shape (N, *shape) -- (N, latent) for the 2021 autoencoder,
(N, tokens, latent) for SANE -- and return (n, *shape).

- `KDESampler` (S_KDE): a Gaussian kernel density over the anchors, joint over every
  dimension, or per token position for SANE (``per_token``), from scikit-learn.
- `DimensionKDESampler`: an independent 1-D KDE per dimension; every dimension draws with its
  own random stream (the reference code passed one seed to all of them, which makes the
  dimensions pick the same anchors: not independent draws).
- `NeighbourSampler`: Gaussian steps around anchors in a low-dimensional PCA projection,
  mapped back (weaker, Schürholt et al. 2022).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import KFold
from sklearn.neighbors import KernelDensity

from weightspace.errors import ConfigError

BANDWIDTHS = np.logspace(-2, 0.5, 11)  # in standard deviations of each dimension


def cross_validated_loglik(x: np.ndarray, bandwidths: np.ndarray, folds: int) -> np.ndarray:
    """Mean held-out log-likelihood of a Gaussian KDE per bandwidth, over ``folds`` contiguous
    folds: what ``GridSearchCV(KernelDensity(), {"bandwidth": ...}, cv=folds)`` scores, computed
    exactly (float64, log-sum-exp) from one distance matrix per fold instead of one tree query
    per bandwidth and fold."""
    n, d = x.shape
    data = torch.as_tensor(np.asarray(x, dtype=np.float64))
    scores = np.zeros(len(bandwidths))
    for kept_rows, held_rows in KFold(folds).split(x):  # contiguous, unshuffled, as GridSearchCV
        held, kept = data[held_rows], data[kept_rows]
        sq = (
            held.square().sum(1)[:, None] + kept.square().sum(1)[None, :] - 2.0 * held @ kept.T
        ).clamp_(min=0.0)  # (held, kept) squared distances
        for i, h in enumerate(np.asarray(bandwidths, dtype=np.float64)):
            log_kernel = torch.logsumexp(sq / (-2.0 * h * h), dim=1)  # (held,)
            norm = np.log(len(kept)) + 0.5 * d * np.log(2.0 * np.pi * h * h)
            scores[i] += float(log_kernel.sum()) - len(held) * norm
    return scores / folds


def _bandwidth(x: np.ndarray, bandwidth: float | None) -> float:
    """The given bandwidth, else the one of `BANDWIDTHS` with the best cross-validated
    log-likelihood (Scott's rule is near 1 in many dimensions: samples would be mostly noise);
    on ties the smallest, as scikit-learn's grid search picks."""
    if bandwidth is not None:
        return float(bandwidth)
    if len(x) < 6:
        return float(len(x) ** (-1.0 / (x.shape[1] + 4)))
    scores = cross_validated_loglik(x, BANDWIDTHS, min(5, len(x) // 2))
    return float(BANDWIDTHS[int(np.argmax(scores))])


def _check(latents: np.ndarray) -> np.ndarray:
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim < 2 or len(latents) < 2:
        raise ConfigError("anchors", "latents of at least 2 anchor models", latents.shape)
    if not np.isfinite(latents).all():
        raise ConfigError("anchors", "finite latents", "NaN or inf")
    return latents


def _kde_draw(x: np.ndarray, n: int, bandwidth: float | None, seed: int) -> np.ndarray:
    """n draws from a Gaussian KDE of x (N, d), fitted on standardized columns."""
    mean, std = x.mean(0), x.std(0)
    std = np.where(std > 1e-12, std, 1.0)
    z = (x - mean) / std
    kde = KernelDensity(kernel="gaussian", bandwidth=_bandwidth(z, bandwidth)).fit(z)
    return kde.sample(n, random_state=seed) * std + mean


@dataclass
class KDESampler:
    """Joint Gaussian KDE over the anchors' latents (per token position with ``per_token``)."""

    bandwidth: float | None = None
    per_token: bool = False

    def sample(self, latents: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        latents = _check(latents)
        rng = np.random.default_rng(seed)
        if not self.per_token or latents.ndim == 2:
            flat = latents.reshape(len(latents), -1)
            draws = _kde_draw(flat, n, self.bandwidth, int(rng.integers(2**31)))
            return draws.reshape(n, *latents.shape[1:])
        tokens = [
            _kde_draw(latents[:, i], n, self.bandwidth, int(rng.integers(2**31)))
            for i in range(latents.shape[1])
        ]
        return np.stack(tokens, 1)  # (n, tokens, latent)


@dataclass
class DimensionKDESampler:
    """An independent 1-D Gaussian KDE per latent dimension, each with its own random stream."""

    bandwidth: float | None = None

    def sample(self, latents: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        latents = _check(latents)
        flat = latents.reshape(len(latents), -1)
        streams = np.random.SeedSequence(seed).spawn(flat.shape[1])  # one stream per dimension
        columns = [
            _kde_draw(flat[:, [d]], n, self.bandwidth, int(s.generate_state(1)[0]))[:, 0]
            for d, s in enumerate(streams)
        ]
        return np.stack(columns, 1).reshape(n, *latents.shape[1:])


@dataclass
class NeighbourSampler:
    """A random anchor plus a Gaussian step of ``scale`` standard deviations in a PCA space."""

    components: int = 8
    scale: float = 0.5

    def sample(self, latents: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        latents = _check(latents)
        flat = latents.reshape(len(latents), -1)
        k = min(self.components, len(flat) - 1, flat.shape[1])
        pca = PCA(n_components=k, random_state=seed).fit(flat)
        projected = pca.transform(flat)  # (N, k)
        rng = np.random.default_rng(seed)
        start = projected[rng.integers(len(projected), size=n)]
        step = rng.normal(size=(n, k)) * projected.std(0) * self.scale
        return pca.inverse_transform(start + step).reshape(n, *latents.shape[1:])


SAMPLERS = {
    "kde": lambda: KDESampler(per_token=True),
    "kde-joint": lambda: KDESampler(per_token=False),
    "kde-dim": DimensionKDESampler,
    "neighbour": NeighbourSampler,
}


def parse_method(method: str) -> tuple[str, float]:
    """``kde30`` -> ("kde", 0.30): the sampler and the share of top models used as anchors."""
    name = method.rstrip("0123456789")
    digits = method[len(name) :]
    if name not in SAMPLERS:
        raise ConfigError(
            "--method",
            f"one of {', '.join(SAMPLERS)} with an optional top-k "
            "percentage (kde30, kde-dim30, neighbour30)",
            method,
        )
    share = int(digits) / 100 if digits else 0.3
    if not 0 < share <= 1:
        raise ConfigError("--method", "a top-k percentage in 1..100", digits)
    return name, share
