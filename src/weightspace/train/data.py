"""Training data for hyper-representations: the tokens of one split, held in memory.

Small zoos fit in memory easily (a CNN-s zoo of 3,000 checkpoints is ~100 MB of tokens), and
indexing one tensor keeps the data side far from starving the model. Bigger zoos stream with
`weightspace.tokens.ZooTokens` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    return TokenTensors(tokens, tokenizer.mask, tokenizer.positions, props, group, rows)
