"""Model zoos: architectures, datasets, population training, storage, presets."""

from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec
from weightspace.zoo.config import Factor, ZooConfig
from weightspace.zoo.create import create_zoo
from weightspace.zoo.datasets import DatasetConfig, load_dataset
from weightspace.zoo.presets import PRESETS, preset
from weightspace.zoo.reader import Zoo, open_zoo

__all__ = [
    "ArchConfig",
    "DatasetConfig",
    "Factor",
    "PRESETS",
    "Zoo",
    "ZooConfig",
    "build_model",
    "create_zoo",
    "load_dataset",
    "open_zoo",
    "preset",
    "weight_spec",
]
