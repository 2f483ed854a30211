"""Model zoos: architectures, datasets, population training, storage, presets."""

from weightspace._lazy import lazy_names

# loaded on first use: `zoo create --help` reads ZooConfig without the zoo's torch code
_EXPORTS = {
    "ArchConfig": "architectures",
    "build_model": "architectures",
    "weight_spec": "architectures",
    "Factor": "config",
    "ZooConfig": "config",
    "create_zoo": "create",
    "DatasetConfig": "config",
    "load_dataset": "datasets",
    "Park": "park",
    "ParkConfig": "park",
    "create_park": "park",
    "is_park": "park",
    "open_park": "park",
    "PARK_PRESETS": "presets",
    "PRESETS": "presets",
    "park_preset": "presets",
    "preset": "presets",
    "Zoo": "reader",
    "open_zoo": "reader",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

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
