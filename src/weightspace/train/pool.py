"""One training set from several zoos of different architectures (MultiZoo-SANE, 2025).

A `TokenPool` owns the zoos, each zoo's split (every zoo keeps its own), one tokenizer per
architecture at one shared token size, and the weight normalization; `PooledTokens` are the
tokens of one part of all zoos in one tensor, each model padded to the longest, so that a batch
drawn at random mixes zoos, architectures and sizes.

Weight normalization across architectures (``normalization``):

- ``"zoo"`` (the default): each zoo's weights standardized per layer with its own training
  statistics (the 2022 layer normalization, per zoo), and a plain masked MSE. For a zoo never
  seen in training, the statistics are fitted on its own training split (weights only, no
  labels).
- ``"batch"`` (MultiZoo-SANE's): raw weights go in; the reconstruction loss is normalized per
  batch over its non-padding values (their mean and standard deviation, eps 1e-4). Defined
  for any single network, including one never seen, with no statistics at all.

Measured on a 7-architecture pilot park (5 seen, 2 held out; SANE small, 10 epochs, lr 1e-3,
test-accuracy R² of the mean-pooled embedding): zoo 0.558 seen / 0.308 held out, batch
0.564 / -0.572, so ``zoo`` is the default.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from weightspace.errors import ConfigError, check_choice
from weightspace.spec import WeightSpec
from weightspace.spec.permute import canonical_order
from weightspace.tokens.dataset import fit_normalizer, zoo_spec
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.splits import DEFAULT, Split, SplitConfig, resolve_split
from weightspace.tokens.tokenizers import LayerTokenizer, TokenBatch
from weightspace.train.config import NORMALIZATIONS
from weightspace.zoo.reader import Zoo

POOL_TOKEN_SIZE = 64  # one token size for every architecture (MultiZoo-SANE: 288, for ResNets)
BATCH_EPS = 1e-4  # MultiZoo-SANE's eps of the per-batch loss normalization


@dataclass
class PoolMember:
    """One zoo of a pool: its name (unique in the pool), tokenizer, normalizer and split."""

    name: str
    zoo: Zoo
    tokenizer: LayerTokenizer
    normalizer: LayerNormalizer
    split: Split


def member_normalizer(
    zoo: Zoo, normalization: str, split: SplitConfig | Split, epochs: Sequence[int] | None
) -> LayerNormalizer:
    """The weight normalizer of one zoo under ``normalization`` (see the module docstring)."""
    check_choice("normalization", normalization, NORMALIZATIONS)
    if normalization == "zoo":
        return fit_normalizer(zoo, split, epochs)
    return LayerNormalizer(zoo_spec(zoo)).identity()


class TokenPool:
    """The zoos of one training set, each with its own split, tokenizer and normalizer.

    Example:
        >>> pool = TokenPool([open_zoo(p) for p in paths], SplitConfig(), token_size=64)
        >>> train = pool.tokens("train")  # PooledTokens of every zoo's training split
        >>> batch = train.batch(torch.arange(8))  # padded, with lengths and source
    """

    def __init__(
        self,
        zoos: Sequence[Zoo],
        splits: SplitConfig | Split = DEFAULT,
        token_size: int = POOL_TOKEN_SIZE,
        normalization: str = "zoo",
        epochs: Sequence[int] | None = None,
        canonical: bool = False,
    ) -> None:
        check_choice("normalization", normalization, NORMALIZATIONS)
        self.canonical = canonical
        if not zoos:
            raise ConfigError("zoos", "at least one zoo", 0)
        if token_size < 1:
            raise ConfigError("token_size", "an integer >= 1 (one size for every zoo)", token_size)
        self.token_size, self.normalization, self.epochs = token_size, normalization, epochs
        self.members: list[PoolMember] = []
        names: set[str] = set()
        for i, zoo in enumerate(zoos):
            name = zoo.name if zoo.name not in names else f"{zoo.name}-{i}"
            names.add(name)
            split = resolve_split(zoo, splits)
            self.members.append(
                PoolMember(
                    name,
                    zoo,
                    LayerTokenizer(zoo_spec(zoo), token_size),
                    member_normalizer(zoo, normalization, split, epochs),
                    split,
                )
            )

    @property
    def tokenizers(self) -> list[LayerTokenizer]:
        return [m.tokenizer for m in self.members]

    @property
    def max_tokens(self) -> int:
        return max(m.tokenizer.num_tokens for m in self.members)

    def rows(self, part: str) -> list[np.ndarray]:
        """Each member's rows of ``part`` (its own split), in member order."""
        return [m.split.rows(m.zoo, part, self.epochs) for m in self.members]

    def tokens(self, part: str) -> PooledTokens:
        """The normalized tokens of ``part`` of every zoo, padded to the longest model."""
        n, t = self.max_tokens, self.token_size
        parts, sources, rows, props = [], [], [], {"test_acc": [], "epoch": [], "ggap": []}
        for s, (member, where) in enumerate(zip(self.members, self.rows(part), strict=True)):
            tok, norm = member.tokenizer, member.normalizer
            for _, flat in member.zoo.batches(where):
                flat = canonical_order(tok.spec, flat) if self.canonical else flat
                tokens = tok.tokenize(norm.transform(flat)).tokens  # (b, n_s, T)
                parts.append(nn.functional.pad(tokens, (0, 0, 0, n - tok.num_tokens)))
            sources.append(torch.full((len(where),), s, dtype=torch.long))
            rows.append(where)
            for name, values in props.items():
                column = member.zoo.table.column_names
                got = member.zoo.column(name)[where] if name in column else np.nan
                values.append(np.broadcast_to(np.asarray(got, dtype=np.float32), len(where)))
        tokens = torch.cat(parts) if parts else torch.zeros(0, n, t)
        properties = {k: torch.as_tensor(np.concatenate(v)) for k, v in props.items()}
        return PooledTokens(
            tokens,
            torch.stack([_pad(m.tokenizer.mask, n) for m in self.members]),
            torch.stack([_pad(m.tokenizer.positions, n) for m in self.members]),
            torch.as_tensor([m.tokenizer.num_tokens for m in self.members]),
            torch.cat(sources),
            properties,
            np.concatenate(rows) if rows else np.zeros(0, np.int64),
        )


def _pad(t: torch.Tensor, n: int) -> torch.Tensor:
    """(n_s, ...) -> (n, ...) with zeros (False) appended."""
    return torch.cat([t, t.new_zeros(n - len(t), *t.shape[1:])])


@dataclass
class PooledTokens:
    """The tokens of one part of several zoos (N, n_max, T), with the layout of each zoo."""

    tokens: torch.Tensor  # (N, n_max, T)
    masks: torch.Tensor  # (zoos, n_max, T) the mask of each zoo, padded
    layouts: torch.Tensor  # (zoos, n_max, 3) the positions of each zoo, padded
    sizes: torch.Tensor  # (zoos,) tokens per model of each zoo
    source: torch.Tensor  # (N,) the zoo of each checkpoint
    properties: dict[str, torch.Tensor]  # name -> (N,), NaN where a zoo lacks the column
    rows: np.ndarray  # (N,) the row of each checkpoint in its own zoo
    chunk_rows = 256

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def group(self) -> torch.Tensor:
        return torch.zeros(len(self), dtype=torch.long, device=self.tokens.device)

    @property
    def mask(self) -> torch.Tensor:
        return self.masks[0]

    def batch(self, index: torch.Tensor) -> TokenBatch:
        """Checkpoints ``index``, padded to the longest zoo, with their lengths and zoos."""
        source = self.source[index]
        return TokenBatch(
            self.tokens[index], self.masks[source], self.layouts[source], self.sizes[source], source
        )

    def whole(self, index: torch.Tensor) -> Iterator[tuple[TokenBatch, torch.Tensor]]:
        """Unpadded batches of ``index``, one per zoo, with where they sit in ``index``."""
        source = self.source[index]
        for s in source.unique().tolist():
            where = (source == s).nonzero().squeeze(1)
            n = int(self.sizes[s])
            b = len(where)
            yield (
                TokenBatch(
                    self.tokens[index[where], :n],
                    self.masks[s, :n].expand(b, -1, -1),
                    self.layouts[s, :n].expand(b, -1, -1),
                ),
                where,
            )

    def chunks(self, size: int = 256) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield from zip(self.tokens.split(size), self.group.split(size), strict=True)

    def to(self, device: torch.device | str) -> PooledTokens:
        return PooledTokens(
            self.tokens.to(device),
            self.masks.to(device),
            self.layouts.to(device),
            self.sizes.to(device),
            self.source.to(device),
            {k: v.to(device) for k, v in self.properties.items()},
            self.rows,
        )


class MaskedReconstruction(nn.Module):
    """Masked MSE over the non-padding values. With ``batch_normalized`` (MultiZoo-SANE's
    loss), prediction and target are first standardized by the batch's target mean and
    standard deviation over those values (eps 1e-4), so layers, zoos and sizes share one
    scale; without it, for zoo-standardized weights, the plain masked MSE."""

    def __init__(self, batch_normalized: bool = True, eps: float = BATCH_EPS) -> None:
        super().__init__()
        self.batch_normalized, self.eps = batch_normalized, eps

    def forward(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor | None = None,
        num_tokens: int | None = None,
    ) -> torch.Tensor:
        m = mask.to(prediction.dtype)
        count = m.sum().clamp(min=1)
        scale = 1.0
        if self.batch_normalized:
            mean = (target * m).sum() / count
            scale = (((target - mean) ** 2 * m).sum() / count).sqrt() + self.eps
        return (((prediction - target) / scale) ** 2 * m).sum() / count


def pool_loss(normalization: str) -> nn.Module:
    """The reconstruction loss that goes with a pool's weight normalization."""
    check_choice("normalization", normalization, NORMALIZATIONS)
    return MaskedReconstruction(batch_normalized=normalization == "batch")


@dataclass
class PoolState:
    """What a fitted encoder keeps of its pool to read any zoo later: the token size, the
    normalization, and per member zoo its spec, content hash, normalizer and split."""

    token_size: int
    normalization: str
    names: list[str]
    specs: list[WeightSpec]
    hashes: list[str]
    normalizers: list[LayerNormalizer]
    splits: list[Split]
    epochs: tuple[int, ...] | None = None
    canonical: bool = False

    @classmethod
    def of(cls, pool: TokenPool) -> PoolState:
        m = pool.members
        return cls(
            pool.token_size,
            pool.normalization,
            [x.name for x in m],
            [x.tokenizer.spec for x in m],
            [x.zoo.content_sha256 for x in m],
            [x.normalizer for x in m],
            [x.split for x in m],
            None if pool.epochs is None else tuple(pool.epochs),
            pool.canonical,
        )

    def codec(
        self, zoo: Zoo, splits: SplitConfig | Split
    ) -> tuple[LayerTokenizer, LayerNormalizer]:
        """The tokenizer and normalizer of ``zoo``: a member's own, or (a zoo never seen)
        fresh ones of its architecture at the pool's token size."""
        spec = zoo_spec(zoo)
        for s, h, norm in zip(self.specs, self.hashes, self.normalizers, strict=True):
            if h == zoo.content_sha256 and s == spec:
                return LayerTokenizer(spec, self.token_size), norm
        if self.normalization == "batch":
            return LayerTokenizer(spec, self.token_size), LayerNormalizer(spec).identity()
        split = resolve_split(zoo, splits)  # statistics of its own training split
        return (
            LayerTokenizer(spec, self.token_size),
            member_normalizer(zoo, self.normalization, split, self.epochs),
        )

    def prepare(self, spec: WeightSpec, flat: torch.Tensor) -> torch.Tensor:
        """Raw weights as the encoder reads them: in canonical order when it was fitted so."""
        return canonical_order(spec, flat) if self.canonical else flat

    def split_of(self, zoo: Zoo) -> Split | None:
        for h, split in zip(self.hashes, self.splits, strict=True):
            if h == zoo.content_sha256:
                return split
        return None

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for i, norm in enumerate(self.normalizers):
            out.update({f"pool.{i}.{k}": v for k, v in norm.state_dict().items()})
        return out

    def to_dict(self) -> dict:
        return {
            "token_size": self.token_size,
            "normalization": self.normalization,
            "epochs": None if self.epochs is None else list(self.epochs),
            "canonical": self.canonical,
            "members": [
                {"name": n, "spec": s.to_dict(), "zoo_sha256": h, "split": sp.to_dict()}
                for n, s, h, sp in zip(
                    self.names, self.specs, self.hashes, self.splits, strict=True
                )
            ],
        }

    @classmethod
    def from_dict(cls, raw: dict, tensors: dict[str, torch.Tensor]) -> PoolState:
        members = raw["members"]
        specs = [WeightSpec.from_dict(m["spec"]) for m in members]
        normalizers = [
            LayerNormalizer(spec).load_state_dict(
                {k: tensors[f"pool.{i}.{k}"] for k in ("mean", "std")}
            )
            for i, spec in enumerate(specs)
        ]
        return cls(
            int(raw["token_size"]),
            str(raw["normalization"]),
            [str(m["name"]) for m in members],
            specs,
            [str(m["zoo_sha256"]) for m in members],
            normalizers,
            [Split.from_dict(m["split"]) for m in members],
            None if raw.get("epochs") is None else tuple(raw["epochs"]),
            bool(raw.get("canonical", False)),
        )
