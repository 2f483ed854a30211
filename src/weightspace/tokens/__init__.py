"""Weight tokens: tokenizers, normalization, augmentations, datasets."""

from weightspace._lazy import lazy_names

# loaded on first use: `fit --help` reads SplitConfig without the tokenizers' torch code
_EXPORTS = {
    "AdditiveNoise": "augment",
    "Compose": "augment",
    "Erase": "augment",
    "MultiplicativeNoise": "augment",
    "Permute": "augment",
    "RandomWindow": "augment",
    "TwoViews": "augment",
    "SplitConfig": "config",
    "ZooTokens": "dataset",
    "fit_normalizer": "dataset",
    "split_models": "dataset",
    "split_rows": "dataset",
    "zoo_spec": "dataset",
    "LayerNormalizer": "normalize",
    "Split": "splits",
    "encoder_split": "splits",
    "resolve_split": "splits",
    "siblings_across": "splits",
    "LayerTokenizer": "tokenizers",
    "NeuronTokenizer": "tokenizers",
    "TokenBatch": "tokenizers",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

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
