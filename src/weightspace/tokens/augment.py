"""Augmentations of token batches, each a small composable object (Schürholt et al. 2021, 2022;
SANE, ICML 2024).

Every augmentation is called as ``aug(batch, generator)`` and draws fresh randomness per model
and per call; none writes to its input. Padding stays zero and masks are never changed.

Example:
    >>> augment = Compose([Permute(tok), MultiplicativeNoise(0.1), Erase(p=0.5)])
    >>> views = TwoViews(augment, RandomWindow(64))
    >>> a, b = views(tok.tokenize(flat))  # two differently augmented windows of the same models
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from weightspace.errors import ConfigError
from weightspace.spec import permute, random_permutations
from weightspace.tokens.tokenizers import LayerTokenizer, TokenBatch


class Augmentation(Protocol):
    def __call__(
        self, batch: TokenBatch, generator: torch.Generator | None = None
    ) -> TokenBatch: ...


def _randn(batch: TokenBatch, generator: torch.Generator | None) -> torch.Tensor:
    tokens = batch.tokens
    return torch.randn(tokens.shape, generator=generator, dtype=tokens.dtype).to(tokens.device)


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


@dataclass
class Permute:
    """Permute each model's hidden channels at random: a new network with the same function.

    Needs whole models (apply it before `RandomWindow`): a permutation moves values between
    layers' rows and the next layers' columns anywhere in the sequence.
    """

    tokenizer: LayerTokenizer

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        if batch.tokens.shape[1] != self.tokenizer.num_tokens:
            raise ConfigError(
                "Permute",
                f"whole models of {self.tokenizer.num_tokens} tokens",
                batch.tokens.shape[1],
                fix="Apply Permute before RandomWindow",
            )
        spec = self.tokenizer.spec
        perms = random_permutations(spec, len(batch), generator)
        flat = self.tokenizer.detokenize(batch.tokens)
        flat = permute(spec, flat, [p.to(flat.device) for p in perms])
        return batch.replace(self.tokenizer.tokenize(flat).tokens)


@dataclass
class PooledPermute:
    """`Permute` for a batch pooled from zoos of several architectures: each model is permuted
    with the tokenizer of its own zoo (``batch.source``), on its real tokens only."""

    tokenizers: Sequence[LayerTokenizer]

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        if batch.source is None:
            raise ConfigError("PooledPermute", "a pooled batch (with source)", None)
        tokens = batch.tokens.clone()
        for s in batch.source.unique().tolist():
            rows = (batch.source == s).nonzero().squeeze(1)
            tok = self.tokenizers[s]
            n = tok.num_tokens
            part = TokenBatch(tokens[rows, :n], batch.mask[rows, :n], batch.positions[rows, :n])
            tokens[rows, :n] = Permute(tok)(part, generator).tokens
        return batch.replace(tokens)


@dataclass
class AdditiveNoise:
    """Add N(0, sigma) to every real value."""

    sigma: float = 0.01

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        noise = _randn(batch, generator) * self.sigma * batch.mask
        return batch.replace(batch.tokens + noise)


@dataclass
class MultiplicativeNoise:
    """Multiply every value by (1 + sigma * N(0, 1)); padding stays zero."""

    sigma: float = 0.1

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        return batch.replace(batch.tokens * (1 + self.sigma * _randn(batch, generator)))


@dataclass
class Erase:
    """With probability ``p`` per model, zero a contiguous block of the values.

    The block covers a fraction U(``min_fraction``, ``max_fraction``) of the model's sequence.
    """

    p: float = 0.5
    min_fraction: float = 0.02
    max_fraction: float = 0.33

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise ConfigError("Erase.p", "a probability in [0, 1]", self.p)
        if not 0 <= self.min_fraction <= self.max_fraction <= 1:
            raise ConfigError(
                "Erase fractions", "0 <= min_fraction <= max_fraction <= 1", self.max_fraction
            )

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        b, n, t = batch.tokens.shape
        device = batch.tokens.device
        span = self.min_fraction + (self.max_fraction - self.min_fraction) * _rand(
            b, generator, device
        )
        length = (span * n * t).long()  # (B,)
        start = (_rand(b, generator, device) * (n * t - length + 1)).long().clamp(max=n * t)
        erase = _rand(b, generator, device) < self.p
        pos = torch.arange(n * t, device=device)
        hit = (pos >= start[:, None]) & (pos < (start + length)[:, None]) & erase[:, None]
        return batch.replace(batch.tokens.masked_fill(hit.view(b, n, t), 0.0))


@dataclass
class RandomWindow:
    """A random contiguous window of ``size`` tokens per model (the whole model if shorter)."""

    size: int

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError("RandomWindow.size", "an integer >= 1", self.size)

    def starts(self, batch: TokenBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        """A start per model, uniform over the windows inside its real tokens (a padded,
        pooled batch: each model's own length)."""
        n = batch.tokens.shape[1]
        if batch.lengths is None:
            high = max(n - self.size, 0) + 1
            return torch.randint(high, (len(batch),), generator=generator).to(batch.tokens.device)
        high = (batch.lengths.cpu() - self.size).clamp(min=0) + 1  # (B,)
        u = torch.rand(len(batch), generator=generator)
        return (u * high).long().clamp(max=high - 1).to(batch.tokens.device)

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        return batch.window(self.starts(batch, generator), min(self.size, batch.tokens.shape[1]))


@dataclass
class Compose:
    """Apply augmentations in order."""

    augmentations: Sequence[Augmentation]

    def __call__(self, batch: TokenBatch, generator: torch.Generator | None = None) -> TokenBatch:
        for augmentation in self.augmentations:
            batch = augmentation(batch, generator)
        return batch


@dataclass
class TwoViews:
    """Two independently augmented views of each model for the contrastive loss.

    With a ``window``, both views cover the same tokens, so a positive pair shows the same
    part of the same network.
    """

    augmentation: Augmentation
    window: RandomWindow | None = None

    def __call__(
        self, batch: TokenBatch, generator: torch.Generator | None = None
    ) -> tuple[TokenBatch, TokenBatch]:
        first = self.augmentation(batch, generator)
        second = self.augmentation(batch, generator)
        if self.window is None:
            return first, second
        start = self.window.starts(batch, generator)
        size = min(self.window.size, batch.tokens.shape[1])
        return first.window(start, size), second.window(start, size)
