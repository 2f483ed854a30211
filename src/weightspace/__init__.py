"""weightspace: learning from the weights of neural networks."""

__version__ = "0.1.0"

from weightspace.errors import ConfigError, WeightspaceError, ZooFormatError  # noqa: E402
from weightspace.models.encoder import SANE, HyperRep, load_encoder  # noqa: E402
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
