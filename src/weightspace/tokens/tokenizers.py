"""Tokenizers: a network's flat weight vector as a sequence of tokens, and back, bit for bit.

Both tokenizers cut the spec into *row blocks* (Schürholt et al. 2021, 2022; SANE, ICML 2024): a
conv/linear weight reshaped to
``[C_out, rest]`` with its bias as the last column; BatchNorm's gamma and beta as one block of
rows of 2, its running mean and running variance as blocks of their own.

- `NeuronTokenizer` (2021): one token per row, so each block has its own token length.
- `LayerTokenizer` (SANE, 2024): rows cut into chunks of ``token_size`` values, zero padded, with
  a mask of real values and 3 positions per token (global index, block, row).

Tokenizing and detokenizing are pure gathers, so a round trip returns the identical bits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from weightspace.errors import ConfigError
from weightspace.spec import WeightSpec


@dataclass(frozen=True)
class RowBlock:
    """Tensors of one layer read as one matrix: ``keys`` concatenated column-wise."""

    keys: tuple[str, ...]
    rows: int
    cols: int


@functools.lru_cache(maxsize=64)
def row_blocks(spec: WeightSpec) -> tuple[RowBlock, ...]:
    """The blocks of ``spec`` in flat order: weight (+ bias), BN (gamma, beta), each BN stat."""
    blocks = []
    for layer in spec.layers:
        keys = list(layer.keys)
        while keys:
            head = spec.by_key[keys.pop(0)]
            group = [head]
            rows = head.shape[0] if head.shape else 1
            if head.key.endswith("weight") and keys:
                partner = spec.by_key[keys[0]]
                if partner.key.endswith("bias") and partner.shape == (rows,):
                    group.append(spec.by_key[keys.pop(0)])
            cols = sum(t.numel // rows for t in group)
            blocks.append(RowBlock(tuple(t.key for t in group), rows, cols))
    return tuple(blocks)


def _block_index(spec: WeightSpec, block: RowBlock) -> torch.Tensor:
    """(rows, cols) positions of the block's values in the flat vector."""
    parts = []
    for key in block.keys:
        start, numel = spec.offsets[key], spec.by_key[key].numel
        parts.append(torch.arange(start, start + numel).view(block.rows, -1))
    return torch.cat(parts, 1)


def _check_flat(spec: WeightSpec, flat: torch.Tensor) -> None:
    if flat.dim() not in (1, 2) or flat.shape[-1] != spec.num_params:
        raise ConfigError(
            "weights", f"shape (P,) or (B, P) with P = {spec.num_params}", tuple(flat.shape)
        )


class NeuronTokenizer:
    """2021 neuron tokens: one token per output neuron, ``(B, rows, cols)`` per block.

    Example:
        >>> tok = NeuronTokenizer(spec)
        >>> per_layer = tok.tokenize(flat)  # [(B, 8, 10), (B, 6, 73), ...]
        >>> torch.equal(tok.detokenize(per_layer), flat)
        True
    """

    def __init__(self, spec: WeightSpec) -> None:
        self.spec = spec
        self.blocks = row_blocks(spec)
        self.indices = [_block_index(spec, b) for b in self.blocks]

    @property
    def token_lengths(self) -> tuple[int, ...]:
        return tuple(b.cols for b in self.blocks)

    def tokenize(self, flat: torch.Tensor) -> list[torch.Tensor]:
        _check_flat(spec=self.spec, flat=flat)
        return [flat[..., index] for index in self.indices]

    def detokenize(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        if len(tokens) != len(self.blocks):
            raise ConfigError("tokens", f"a list of {len(self.blocks)} blocks", len(tokens))
        batch = tokens[0].shape[:-2]
        flat = tokens[0].new_empty(*batch, self.spec.num_params)
        for index, part in zip(self.indices, tokens, strict=True):
            if part.shape[-2:] != index.shape:
                raise ConfigError("tokens", f"a block of shape {tuple(index.shape)}", part.shape)
            flat[..., index.flatten()] = part.reshape(*batch, -1)
        return flat


@dataclass
class TokenBatch:
    """Tokens of B models (or windows of them) with their mask of real values and positions.

    A batch pooled from zoos of several architectures pads every model to the longest one:
    ``lengths`` then holds each model's real number of tokens and ``source`` the index of its
    zoo (both None for one architecture, where every model has the same length).
    """

    tokens: torch.Tensor  # (B, n, T) float
    mask: torch.Tensor  # (B, n, T) bool, False on padding
    positions: torch.Tensor  # (B, n, 3) long: global index, block, row
    lengths: torch.Tensor | None = None  # (B,) real tokens per model, when padded
    source: torch.Tensor | None = None  # (B,) index of the model's zoo, when pooled

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> TokenBatch:
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return TokenBatch(
            self.tokens.to(device),
            self.mask.to(device),
            self.positions.to(device),
            move(self.lengths),
            move(self.source),
        )

    def replace(self, tokens: torch.Tensor) -> TokenBatch:
        return TokenBatch(tokens, self.mask, self.positions, self.lengths, self.source)

    def padding(self) -> torch.Tensor | None:
        """(B, n) True on tokens that are pure padding (models shorter than the batch), or
        None when every token is real (attention then needs no mask)."""
        if self.lengths is None:
            return None
        pad = ~self.mask.any(-1)
        return pad if bool(pad.any()) else None

    def window(self, start: torch.Tensor, size: int) -> TokenBatch:
        """Tokens ``start[b] .. start[b] + size`` of each model ``b``."""
        offsets = start.view(-1, 1) + torch.arange(size, device=start.device)  # (B, size)
        idx = offsets.unsqueeze(-1)
        lengths = None
        if self.lengths is not None:
            lengths = (self.lengths - start).clamp(0, size)
        return TokenBatch(
            self.tokens.take_along_dim(idx, 1),
            self.mask.take_along_dim(idx, 1),
            self.positions.take_along_dim(idx, 1),
            lengths,
            self.source,
        )


class LayerTokenizer:
    """SANE layer tokens of a fixed size (``token_size``; 0 = the longest row, nothing chunked).

    Example:
        >>> tok = LayerTokenizer(weight_spec(ArchConfig("cnn-l", input_shape=(3, 32, 32))))
        >>> tok.num_tokens, tok.token_size
        (93, 289)
        >>> batch = tok.tokenize(flat)  # TokenBatch, tokens (B, 93, 289)
        >>> torch.equal(tok.detokenize(batch.tokens), flat)
        True
    """

    def __init__(self, spec: WeightSpec, token_size: int = 0) -> None:
        if token_size < 0:
            raise ConfigError("token_size", "an integer >= 0 (0 = automatic)", token_size)
        self.spec = spec
        blocks = row_blocks(spec)
        self.token_size = token_size or max(b.cols for b in blocks)
        pad = spec.num_params  # index of the zero appended to the flat vector
        size = self.token_size
        n = sum(b.rows * math.ceil(b.cols / size) for b in blocks)
        # int32 indices halve the memory of a ResNet-18's 15 M slots; torch indexes with them
        dtype = torch.int32 if n * size < 2**31 else torch.long
        self.index = torch.full((n, size), pad, dtype=dtype)  # (n, T)
        self.inverse = torch.empty(pad, dtype=dtype)  # slot of each weight in (n * T)
        layer, row = [], []
        first = 0  # first token of the block
        for number, block in enumerate(blocks):
            chunks = math.ceil(block.cols / size)
            where = self.index[first : first + block.rows * chunks].view(block.rows, -1)
            index = _block_index(spec, block)  # (rows, cols)
            where[:, : block.cols] = index
            slots = first * size + torch.arange(block.rows).view(-1, 1) * chunks * size
            self.inverse[index] = (slots + torch.arange(block.cols)).to(dtype)
            layer.append(torch.full((block.rows * chunks,), number))
            row.append(torch.arange(block.rows).repeat_interleave(chunks))
            first += block.rows * chunks
        self.mask = self.index < pad
        self.positions = torch.stack([torch.arange(n), torch.cat(layer), torch.cat(row)], 1)
        self._on_device: dict[str, dict[str, torch.Tensor]] = {}  # index tensors per device

    @property
    def num_tokens(self) -> int:
        return self.index.shape[0]

    @property
    def num_blocks(self) -> int:
        return int(self.positions[-1, 1]) + 1

    def tokenize(self, flat: torch.Tensor) -> TokenBatch:
        """(B, P) or (P,) weights -> TokenBatch with tokens (B, n, T) (B = 1 for a single model)."""
        _check_flat(self.spec, flat)
        flat = flat.reshape(-1, self.spec.num_params)
        batch = flat.shape[0]
        padded = torch.cat([flat, flat.new_zeros(batch, 1)], 1)
        on = self.on(flat.device)
        index = on["index"]
        tokens = padded.index_select(1, index.flatten()).view(batch, *index.shape)  # (B, n, T)
        return TokenBatch(
            tokens,
            on["mask"].expand(batch, -1, -1),
            on["positions"].expand(batch, -1, -1),
        )

    def on(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The index tensors on ``device``, copied there once and kept: a ResNet-18's index
        is ~62 MB, which a copy per call would move at every training step."""
        key = str(device)
        cache = self._on_device
        if key not in cache:
            names = ("index", "inverse", "mask", "positions")
            cache[key] = {name: getattr(self, name).to(device) for name in names}
        return cache[key]

    def detokenize(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, n, T) tokens of whole models -> (B, P) weights. Padding values are ignored."""
        if tokens.dim() != 3 or tuple(tokens.shape[1:]) != tuple(self.index.shape):
            raise ConfigError(
                "tokens", f"shape (B, {self.num_tokens}, {self.token_size})", tuple(tokens.shape)
            )
        return tokens.reshape(tokens.shape[0], -1).index_select(
            1, self.on(tokens.device)["inverse"]
        )
