"""Generation: sample latents, decode networks, and measure them against honest baselines."""

from weightspace.generate.evaluate import NoveltyConfig, generation_markdown, generation_table
from weightspace.generate.networks import accuracy, condition_batchnorm, finetune_curves
from weightspace.generate.run import SampleConfig, anchor_rows, sample_weights, sample_zoo
from weightspace.generate.samplers import SAMPLERS

__all__ = [
    "SAMPLERS",
    "NoveltyConfig",
    "SampleConfig",
    "accuracy",
    "anchor_rows",
    "condition_batchnorm",
    "finetune_curves",
    "generation_markdown",
    "generation_table",
    "sample_weights",
    "sample_zoo",
]
