"""Model zoos: architectures, datasets, population training, storage, presets."""

from weightspace.zoo.architectures import ArchConfig, build_model, weight_spec
from weightspace.zoo.config import Factor, ZooConfig
from weightspace.zoo.create import create_zoo
from weightspace.zoo.datasets import DatasetConfig, load_dataset
from weightspace.zoo.park import Park, ParkConfig, create_park, is_park, open_park
from weightspace.zoo.presets import PARK_PRESETS, PRESETS, park_preset, preset
from weightspace.zoo.reader import Zoo, open_zoo

__all__ = [
    "ArchConfig",
    "DatasetConfig",
    "Factor",
    "PARK_PRESETS",
    "PRESETS",
    "Park",
    "ParkConfig",
    "Zoo",
    "ZooConfig",
    "build_model",
    "create_park",
    "create_zoo",
    "is_park",
    "load_dataset",
    "open_park",
    "open_zoo",
    "park_preset",
    "preset",
    "weight_spec",
]
