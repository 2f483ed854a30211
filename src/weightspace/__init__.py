"""weightspace: learning from the weights of neural networks.

The names below load on first use (PEP 562), so ``import weightspace`` and the command line
start without importing torch; a Ctrl-C while the command line starts is then caught by it.
"""

from __future__ import annotations

import importlib

from weightspace._version import __version__

_EXPORTS = {
    "HyperRep": "weightspace.encoders",
    "SANE": "weightspace.encoders",
    "load_encoder": "weightspace.encoders",
    "TrainConfig": "weightspace.train.config",
    "ConfigError": "weightspace.errors",
    "WeightspaceError": "weightspace.errors",
    "ZooFormatError": "weightspace.errors",
    "ArchConfig": "weightspace.zoo",
    "DatasetConfig": "weightspace.zoo",
    "Factor": "weightspace.zoo",
    "Zoo": "weightspace.zoo",
    "ZooConfig": "weightspace.zoo",
    "build_model": "weightspace.zoo",
    "create_zoo": "weightspace.zoo",
    "open_zoo": "weightspace.zoo",
    "preset": "weightspace.zoo",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'weightspace' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
