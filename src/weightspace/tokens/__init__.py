"""Weight tokens: tokenizers, normalization, augmentations, datasets."""

from weightspace.tokens.augment import (
    AdditiveNoise,
    Compose,
    Erase,
    MultiplicativeNoise,
    Permute,
    RandomWindow,
    TwoViews,
)
from weightspace.tokens.dataset import (
    SplitConfig,
    ZooTokens,
    fit_normalizer,
    split_models,
    split_rows,
    zoo_spec,
)
from weightspace.tokens.normalize import LayerNormalizer
from weightspace.tokens.splits import Split, encoder_split, resolve_split, siblings_across
from weightspace.tokens.tokenizers import LayerTokenizer, NeuronTokenizer, TokenBatch

__all__ = [
    "AdditiveNoise",
    "Compose",
    "Erase",
    "LayerNormalizer",
    "LayerTokenizer",
    "MultiplicativeNoise",
    "NeuronTokenizer",
    "Permute",
    "RandomWindow",
    "Split",
    "SplitConfig",
    "TokenBatch",
    "TwoViews",
    "ZooTokens",
    "fit_normalizer",
    "encoder_split",
    "resolve_split",
    "siblings_across",
    "split_models",
    "split_rows",
    "zoo_spec",
]
