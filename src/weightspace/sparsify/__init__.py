"""Sparsified twins of a zoo (Honegger, Schürholt & Borth 2023): every model pruned by
magnitude or sparsified by variational dropout, all at once in the population trainer, and
compared with its original. The study end to end is ``weightspace reproduce twins-2023``."""

from weightspace.sparsify.config import DEFAULT_SPARSITY, METHODS, SparsifyConfig
from weightspace.sparsify.run import content_hash, resolve_original, sparsify_zoo

__all__ = [
    "DEFAULT_SPARSITY",
    "METHODS",
    "SparsifyConfig",
    "content_hash",
    "resolve_original",
    "sparsify_zoo",
]
