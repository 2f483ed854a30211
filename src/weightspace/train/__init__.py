"""Training hyper-representations: the config, the loop with exact resume, checkpoints."""

from weightspace.train.config import TrainConfig
from weightspace.train.trainer import Trainer, world

__all__ = ["TrainConfig", "Trainer", "world"]
