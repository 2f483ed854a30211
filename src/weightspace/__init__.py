"""weightspace: learning from the weights of neural networks."""

from weightspace._version import __version__  # noqa: F401
from weightspace.encoders import SANE, HyperRep, load_encoder  # noqa: E402
from weightspace.errors import ConfigError, WeightspaceError, ZooFormatError  # noqa: E402
from weightspace.train.trainer import TrainConfig  # noqa: E402
from weightspace.zoo import (  # noqa: E402
    ArchConfig,
    DatasetConfig,
    Factor,
    Zoo,
    ZooConfig,
    build_model,
    create_zoo,
    open_zoo,
    preset,
)

__all__ = [
    "HyperRep",
    "SANE",
    "TrainConfig",
    "load_encoder",
    "ArchConfig",
    "ConfigError",
    "DatasetConfig",
    "Factor",
    "WeightspaceError",
    "Zoo",
    "ZooConfig",
    "ZooFormatError",
    "build_model",
    "create_zoo",
    "open_zoo",
    "preset",
]
