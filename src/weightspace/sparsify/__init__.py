"""Sparsified twins of a zoo (Honegger, Schürholt & Borth 2023): every model pruned by
magnitude or sparsified by variational dropout, all at once in the population trainer, and
compared with its original. The study end to end is ``weightspace reproduce twins-2023``."""

from weightspace._lazy import lazy_names

# loaded on first use: `zoo sparsify --help` reads the config without importing torch
_EXPORTS = {
    "DEFAULT_SPARSITY": "config",
    "METHODS": "config",
    "SparsifyConfig": "config",
    "content_hash": "run",
    "resolve_original": "run",
    "sparsify_zoo": "run",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_SPARSITY",
    "METHODS",
    "SparsifyConfig",
    "content_hash",
    "resolve_original",
    "sparsify_zoo",
]
