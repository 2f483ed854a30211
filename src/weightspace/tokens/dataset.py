"""A torch Dataset of tokenized checkpoints, read lazily from a zoo's safetensors shards.

Splits are by *model* (`weightspace.tokens.splits`): all checkpoints of one model fall in the
same split (70/15/15 by default, seeded, models sharing seed and init kept together), so no probe
or autoencoder is evaluated on a sibling checkpoint of its training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from weightspace.errors import ConfigError, check_choice
from weightspace.spec import WeightSpec
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.splits import (  # noqa: F401 (re-exported)
    DEFAULT,
    SPLITS,
    USABLE,
    Split,
    SplitConfig,
    resolve_split,
    split_models,
)
from weightspace.tokens.tokenizers import LayerTokenizer, TokenBatch
from weightspace.zoo.architectures import weight_spec
from weightspace.zoo.reader import Zoo

PROPERTIES = ("test_acc", "test_loss", "val_acc", "train_acc", "train_loss", "ggap", "epoch")


def split_rows(
    zoo: Zoo,
    split: str,
    config: SplitConfig | Split = DEFAULT,
    epochs: Sequence[int] | None = None,
) -> np.ndarray:
    """Row indices of ``zoo`` in ``split``, optionally only the checkpoints of ``epochs``.

    ``config`` is a split setting (resolved on this zoo) or a resolved `Split` (an encoder's).
    """
    check_choice("split", split, SPLITS)
    return resolve_split(zoo, config).rows(zoo, split, epochs)


def zoo_spec(zoo: Zoo) -> WeightSpec:
    """The weight-space spec of a zoo's architecture (stored with imported zoos)."""
    stored = zoo.manifest["architecture"].get("spec")
    return WeightSpec.from_dict(stored) if stored else weight_spec(zoo.arch(0))


def fit_normalizer(
    zoo: Zoo, config: SplitConfig | Split = DEFAULT, epochs: Sequence[int] | None = None
) -> LayerNormalizer:
    """A `LayerNormalizer` fitted on the training split of ``zoo`` only."""
    rows = split_rows(zoo, "train", config, epochs)
    return LayerNormalizer(zoo_spec(zoo)).fit(flat for _, flat in zoo.batches(rows))


class TokenSample(NamedTuple):
    tokens: torch.Tensor  # (n, T)
    mask: torch.Tensor  # (n, T) bool
    positions: torch.Tensor  # (n, 3)
    properties: dict[str, torch.Tensor]  # name -> scalar


class ZooTokens(Dataset):
    """The checkpoints of one split of a zoo as SANE tokens, read one by one from the shards.

    Example:
        >>> zoo = open_zoo("runs/digits-hyp")
        >>> norm = fit_normalizer(zoo)
        >>> data = ZooTokens(zoo, "train", normalizer=norm)
        >>> for batch, props in data.loader(batch_size=32, shuffle=True):
        ...     batch.tokens  # (32, n, T); props["test_acc"]  # (32,)
    """

    def __init__(
        self,
        zoo: Zoo,
        split: str = "train",
        *,
        tokenizer: LayerTokenizer | None = None,
        normalizer: LayerNormalizer | None = None,
        splits: SplitConfig | Split = DEFAULT,
        epochs: Sequence[int] | None = None,
        properties: Sequence[str] = PROPERTIES,
    ) -> None:
        self.zoo = zoo
        self.tokenizer = tokenizer or LayerTokenizer(zoo_spec(zoo))
        for t in self.tokenizer.spec.tensors:
            if zoo.shapes.get(t.key) != t.shape:
                raise ConfigError(
                    "tokenizer",
                    f"{t.key!r} of shape {zoo.shapes.get(t.key)}",
                    t.shape,
                    fix="Build the tokenizer from this zoo's spec (zoo_spec(zoo))",
                )
        if normalizer is not None and normalizer.spec != self.tokenizer.spec:
            raise ConfigError("normalizer", "one fitted on this zoo's architecture", None)
        self.normalizer = normalizer
        for name in properties:
            check_choice("property", name, zoo.table.column_names)
        self.rows = split_rows(zoo, split, splits, epochs)
        self.properties = {
            name: torch.as_tensor(zoo.column(name)[self.rows], dtype=torch.float32)
            for name in properties
        }

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> TokenSample:
        flat = self.zoo.flat([int(self.rows[index])])  # (1, P), read from its shard only
        if self.normalizer is not None:
            flat = self.normalizer.transform(flat)
        batch = self.tokenizer.tokenize(flat)
        props = {name: values[index] for name, values in self.properties.items()}
        return TokenSample(batch.tokens[0], batch.mask[0], batch.positions[0], props)

    def loader(self, batch_size: int = 32, shuffle: bool = False, **kwargs) -> DataLoader:
        """A DataLoader yielding (TokenBatch, {property: (B,)})."""
        return DataLoader(self, batch_size, shuffle=shuffle, collate_fn=collate, **kwargs)


def collate(samples: list[TokenSample]) -> tuple[TokenBatch, dict[str, torch.Tensor]]:
    batch = TokenBatch(
        torch.stack([s.tokens for s in samples]),
        torch.stack([s.mask for s in samples]),
        torch.stack([s.positions for s in samples]),
    )
    names = samples[0].properties
    return batch, {k: torch.stack([s.properties[k] for s in samples]) for k in names}
