"""Training data for hyper-representations: the tokens of one split.

Small zoos fit in memory easily (a CNN-s zoo of 3,000 checkpoints is ~100 MB of tokens), and
indexing one tensor keeps the data side far from starving the model (`TokenTensors`). A split
whose tokens exceed the memory budget streams instead (`StreamedTokens`): each batch is read
from the zoo's shards, normalized and tokenized when it is drawn. Both give the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.tokenizers import LayerTokenizer, TokenBatch
from weightspace.zoo.architectures import ArchConfig
from weightspace.zoo.reader import Zoo


@dataclass
class TokenTensors:
    """All checkpoints of a split as normalized tokens (N, n, T), with their properties."""

    tokens: torch.Tensor  # (N, n, T)
    mask: torch.Tensor  # (n, T)
    positions: torch.Tensor  # (n, 3)
    properties: dict[str, torch.Tensor]  # name -> (N,)
    group: torch.Tensor  # (N,) index into `archs` (one architecture per activation)
    rows: np.ndarray  # the zoo rows

    def __len__(self) -> int:
        return len(self.tokens)

    def batch(self, index: torch.Tensor) -> TokenBatch:
        b = len(index)
        return TokenBatch(
            self.tokens[index],
            self.mask.expand(b, -1, -1),
            self.positions.expand(b, -1, -1),
        )

    def whole(self, index: torch.Tensor) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        """Whole models of ``index`` in one batch (one architecture), and where they sit."""
        yield self.batch(index), torch.arange(len(index), device=index.device)

    chunk_rows = 256  # checkpoints embedded or summarized at a time

    def chunks(self, size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(tokens (b, n, T), group (b,)) of every checkpoint, ``size`` at a time."""
        yield from zip(self.tokens.split(size), self.group.split(size), strict=True)

    def to(self, device: torch.device | str) -> TokenTensors:
        return TokenTensors(
            self.tokens.to(device),
            self.mask.to(device),
            self.positions.to(device),
            {k: v.to(device) for k, v in self.properties.items()},
            self.group.to(device),
            self.rows,
        )


def zoo_archs(zoo: Zoo) -> list[ArchConfig]:
    """One architecture per distinct activation of the zoo (what a functional call needs)."""
    activations = sorted(set(zoo.column("activation").tolist()))
    first = {a: int(np.flatnonzero(zoo.column("activation") == a)[0]) for a in activations}
    return [zoo.arch(first[a]) for a in activations]


@dataclass
class StreamedTokens:
    """The checkpoints of a split read from the zoo's shards batch by batch (same batches as
    `TokenTensors`, without holding the split in memory)."""

    zoo: Zoo
    tokenizer: LayerTokenizer
    normalizer: LayerNormalizer
    mask: torch.Tensor  # (n, T)
    positions: torch.Tensor  # (n, 3)
    properties: dict[str, torch.Tensor]  # name -> (N,)
    group: torch.Tensor  # (N,)
    rows: np.ndarray  # the zoo rows
    device: torch.device | str = "cpu"

    def __len__(self) -> int:
        return len(self.rows)

    def _tokens(self, rows: np.ndarray) -> torch.Tensor:
        flat = self.zoo.flat(rows)  # (b, P), read from the shards
        return self.tokenizer.tokenize(self.normalizer.transform(flat)).tokens.to(self.device)

    def batch(self, index: torch.Tensor) -> TokenBatch:
        b = len(index)
        return TokenBatch(
            self._tokens(self.rows[index.cpu().numpy()]),
            self.mask.expand(b, -1, -1),
            self.positions.expand(b, -1, -1),
        )

    def whole(self, index: torch.Tensor) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        """Whole models of ``index`` in one batch (one architecture), and where they sit."""
        yield self.batch(index), torch.arange(len(index), device=index.device)

    @property
    def chunk_rows(self) -> int:
        """Checkpoints read at a time: at most 256 and about 64 MB of tokens."""
        row_bytes = 4 * self.tokenizer.num_tokens * self.tokenizer.token_size
        return max(1, min(256, 64 * 2**20 // row_bytes))

    def chunks(self, size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        size = size or self.chunk_rows
        for start in range(0, len(self.rows), size):
            end = start + size
            yield self._tokens(self.rows[start:end]), self.group[start:end]

    def to(self, device: torch.device | str) -> StreamedTokens:
        return replace(
            self,
            mask=self.mask.to(device),
            positions=self.positions.to(device),
            properties={k: v.to(device) for k, v in self.properties.items()},
            group=self.group.to(device),
            device=device,
        )


def split_tokens(
    zoo: Zoo,
    rows: Sequence[int] | np.ndarray,
    tokenizer: LayerTokenizer,
    normalizer: LayerNormalizer,
    memory_mb: float,
) -> TokenTensors | StreamedTokens:
    """The split's tokens in memory when they fit ``memory_mb``, else streamed from the zoo."""
    rows = np.asarray(rows, dtype=np.int64)
    size_mb = len(rows) * tokenizer.num_tokens * tokenizer.token_size * 4 / 2**20
    if size_mb <= memory_mb:
        return load_tokens(zoo, rows, tokenizer, normalizer)
    held = load_tokens(zoo, rows[:0], tokenizer, normalizer)  # properties and groups only
    group, props = _groups_and_properties(zoo, rows, ("test_acc", "epoch", "ggap"))
    return StreamedTokens(zoo, tokenizer, normalizer, held.mask, held.positions, props, group, rows)


def load_tokens(
    zoo: Zoo,
    rows: Sequence[int] | np.ndarray,
    tokenizer: LayerTokenizer,
    normalizer: LayerNormalizer,
    properties: Sequence[str] = ("test_acc", "epoch", "ggap"),
) -> TokenTensors:
    """Read, normalize and tokenize ``rows`` of ``zoo`` batch by batch into one tensor."""
    rows = np.asarray(rows, dtype=np.int64)
    parts = [tokenizer.tokenize(normalizer.transform(flat)).tokens for _, flat in zoo.batches(rows)]
    tokens = (
        torch.cat(parts) if parts else torch.zeros(0, tokenizer.num_tokens, tokenizer.token_size)
    )
    group, props = _groups_and_properties(zoo, rows, properties)
    return TokenTensors(tokens, tokenizer.mask, tokenizer.positions, props, group, rows)


def _groups_and_properties(
    zoo: Zoo, rows: np.ndarray, properties: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    # the behavioural loss runs each row with its activation's network; a zoo known only from
    # its weights (or of one activation) is one group
    group = torch.zeros(len(rows), dtype=torch.long)
    if "activation" in zoo.table.column_names and zoo.manifest["architecture"]["config"]:
        activations = [a.activation for a in zoo_archs(zoo)]
        column = zoo.column("activation")[rows]
        group = torch.as_tensor([activations.index(a) for a in column], dtype=torch.long)
    props = {
        name: torch.as_tensor(zoo.column(name)[rows], dtype=torch.float32)
        for name in properties
        if name in zoo.table.column_names  # an imported zoo may lack some (e.g. no train_acc)
    }
    return group, props
