"""Training hyper-representations: the config, the loop with exact resume, checkpoints."""

from weightspace._lazy import lazy_names

# loaded on first use: `fit --help` reads TrainConfig without the trainer
_EXPORTS = {
    "TrainConfig": "config",
    "Trainer": "trainer",
    "world": "trainer",
}
__getattr__, __dir__ = lazy_names(__name__, _EXPORTS)

__all__ = ["TrainConfig", "Trainer", "world"]
