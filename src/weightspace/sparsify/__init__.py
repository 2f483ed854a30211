"""Sparsified twins of a zoo (Honegger, Schürholt & Borth 2023): every model pruned by
magnitude or sparsified by variational dropout, all at once in the population trainer, and
compared with its original."""

from weightspace.sparsify.config import DEFAULT_SPARSITY, METHODS, SparsifyConfig
from weightspace.sparsify.run import content_hash, resolve_original, sparsify_zoo

__all__ = [
    "DEFAULT_SPARSITY",
    "METHODS",
    "SparsifyConfig",
    "content_hash",
    "reproduce_twins",
    "resolve_original",
    "sparsify_zoo",
]


def reproduce_twins(out_dir, quick: bool = False, log=print):  # noqa: ANN001, ANN201
    """``twins-2023``: the study end to end on a digits zoo (see `weightspace.sparsify.reproduce`);
    returns a `weightspace.reproduce.Result`. Imported lazily: it needs matplotlib and scipy."""
    from weightspace.sparsify.reproduce import reproduce_twins as run

    return run(out_dir, quick=quick, log=log)


reproduce = reproduce_twins  # the runner name `weightspace reproduce` looks up
