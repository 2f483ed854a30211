"""Weight tokens: the weight-space spec, tokenizers, normalization, augmentations, datasets."""

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
from weightspace.tokens.permute import permute, random_permutations
from weightspace.tokens.sequential import spec_from_state_dict
from weightspace.tokens.spec import LayerSpec, TensorSpec, WeightSpec, weight_spec
from weightspace.tokens.tokenizers import LayerTokenizer, NeuronTokenizer, TokenBatch
from weightspace.tokens.trace import spec_from_module

__all__ = [
    "AdditiveNoise",
    "Compose",
    "Erase",
    "LayerNormalizer",
    "LayerSpec",
    "LayerTokenizer",
    "MultiplicativeNoise",
    "NeuronTokenizer",
    "Permute",
    "RandomWindow",
    "SplitConfig",
    "TensorSpec",
    "TokenBatch",
    "TwoViews",
    "WeightSpec",
    "ZooTokens",
    "fit_normalizer",
    "permute",
    "random_permutations",
    "spec_from_module",
    "spec_from_state_dict",
    "split_models",
    "split_rows",
    "weight_spec",
    "zoo_spec",
]
